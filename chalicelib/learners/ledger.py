"""The append-only ledger: what the rules say each event earns, minus what was already recorded."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Optional

from chalicelib.rules.learner import LedgerLine


@dataclass(frozen=True)
class LedgerEntry:
    event_id: str
    rule: str
    amount: int
    occurred_at: datetime
    note: str
    kind: str  # "award" for a first entry, "correction" when a later event changed what this one earns
    seq: str = ""  # set once recorded: the entry's place in the learner's ledger
    recorded_at: Optional[datetime] = None
    rules_version: str = ""  # the rule version the amount was computed under ("" before versions were recorded)

    @property
    def key(self) -> tuple[str, str]:
        return (self.event_id, self.rule)


def recorded_totals(entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for entry in entries:
        totals[entry.key] = totals.get(entry.key, 0) + entry.amount
    return totals


def recorded_versions(entries: Iterable[LedgerEntry]) -> dict[str, str]:
    """Event id -> the rule version its latest recorded entry was computed under ("" if not recorded)."""
    return {entry.event_id: entry.rules_version for entry in entries}


def entries_to_append(desired: Iterable[LedgerLine], recorded: Mapping[tuple[str, str], int],
                      occurred: Mapping[str, datetime],
                      reasons: Optional[Mapping[str, str]] = None, *,
                      versions: Optional[Mapping[str, str]] = None,
                      was_under: Optional[Mapping[str, str]] = None,
                      version_reasons: Optional[Mapping[str, str]] = None,
                      base: str = "") -> list[LedgerEntry]:
    """New entries that bring the recorded ledger to what the rules say now.

    Nothing recorded is ever rewritten: a late event that displaces another under the monthly cap shows up as
    an award for the late one and a correction for the displaced one. `occurred` gives the time of events
    that no longer have a line at all; `reasons`, why an event no longer has one (held for review...).

    Rule versions: `versions` gives the version in force at each event, `was_under` the version its recorded
    entries were computed under (recorded_versions; "" counts as `base`, the first version), `version_reasons`
    why each later version was made. An entry for an event already recorded under another version says so:
    "Correction: rules of 2027-01: a fifth course a month now counts. Completed course ...".
    """
    wanted = {line.key: line for line in desired}
    versions, was_under, version_reasons = versions or {}, was_under or {}, version_reasons or {}

    def because(event_id: str, version: str, note: str) -> str:
        before = was_under.get(event_id)
        if before is None or version not in version_reasons or version == (before or base):
            return note
        return f"rules of {version}: {version_reasons[version]}. {note}"
    changes = []
    for key in sorted(set(wanted) | set(recorded)):
        line, already = wanted.get(key), recorded.get(key, 0)
        amount = line.points if line else 0
        if amount == already:
            continue
        event_id, rule = key
        version = line.version if line else versions.get(event_id, "")
        if line is not None and key not in recorded:  # never recorded (a net zero after a correction is not)
            note = because(event_id, version, line.note)  # a rule version gives a scored event what it did not earn
            changes.append(LedgerEntry(event_id, rule, amount, line.occurred_at,
                                       line.note if note == line.note else f"Correction: {note}",
                                       "award" if note == line.note else "correction", rules_version=version))
        else:
            reason = line.note if line else f"this event no longer earns {rule.replace('_', ' ')} points"
            if line is None and reasons and event_id in reasons:
                reason = f"{reason}: {reasons[event_id]}"
            when = line.occurred_at if line else occurred[event_id]
            changes.append(LedgerEntry(event_id, rule, amount - already, when,
                                       f"Correction: {because(event_id, version, reason)}", "correction",
                                       rules_version=version))
    changes.sort(key=lambda e: (e.occurred_at, e.event_id, e.rule))
    return changes
