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

    @property
    def key(self) -> tuple[str, str]:
        return (self.event_id, self.rule)


def recorded_totals(entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for entry in entries:
        totals[entry.key] = totals.get(entry.key, 0) + entry.amount
    return totals


def entries_to_append(desired: Iterable[LedgerLine], recorded: Mapping[tuple[str, str], int],
                      occurred: Mapping[str, datetime],
                      reasons: Optional[Mapping[str, str]] = None) -> list[LedgerEntry]:
    """New entries that bring the recorded ledger to what the rules say now.

    Nothing recorded is ever rewritten: a late event that displaces another under the monthly cap shows up as
    an award for the late one and a correction for the displaced one. `occurred` gives the time of events
    that no longer have a line at all; `reasons`, why an event no longer has one (held for review...).
    """
    wanted = {line.key: line for line in desired}
    changes = []
    for key in sorted(set(wanted) | set(recorded)):
        line, already = wanted.get(key), recorded.get(key, 0)
        amount = line.points if line else 0
        if amount == already:
            continue
        event_id, rule = key
        if line is not None and key not in recorded:  # never recorded (a net zero after a correction is not)
            changes.append(LedgerEntry(event_id, rule, amount, line.occurred_at, line.note, "award"))
        else:
            reason = line.note if line else f"this event no longer earns {rule.replace('_', ' ')} points"
            if line is None and reasons and event_id in reasons:
                reason = f"{reason}: {reasons[event_id]}"
            when = line.occurred_at if line else occurred[event_id]
            changes.append(LedgerEntry(event_id, rule, amount - already, when,
                                       f"Correction: {reason}", "correction"))
    changes.sort(key=lambda e: (e.occurred_at, e.event_id, e.rule))
    return changes
