"""Scoring one learner as one pure computation: everything loaded for them in, everything to write out.

No I/O here. scoring/pipeline.py loads the Snapshot and writes what `compute` returns; the weekly audit
(audit/learners.py) loads the same Snapshot and compares what `compute` returns with what is stored, so the two
can never drift apart.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

from chalicelib.campaigns.rules import Boost
from chalicelib.facts import DomainEvent, badge_awarded, rules_rescored
from chalicelib.learners.ledger import LedgerEntry, entries_to_append, recorded_totals, recorded_versions
from chalicelib.rules import abuse
from chalicelib.rules.abuse import Hold
from chalicelib.rules.config import Badge, RuleBook, Rules, as_book
from chalicelib.rules.checkpoint import Checkpoint, holds_with
from chalicelib.rules.learner import LearnerStanding, StoredLearner, fold
from chalicelib.rules.privacy import anonymous_profile


@dataclass(frozen=True)
class Snapshot:
    """Everything scoring reads about one learner, read in this order (see pipeline.load)."""
    learner_id: str
    stored: Optional[StoredLearner]
    recorded: list[LedgerEntry]  # the ledger as recorded, oldest first
    events: list  # every event of the learner's stream
    received: Mapping[str, datetime] = field(default_factory=dict)  # event id -> first received
    # Review items by event id (review/store.py Review); read only when the learner has or had held events.
    reviews: Mapping[str, Any] = field(default_factory=dict)
    boosts: Mapping[str, list[Boost]] = field(default_factory=dict)  # org id -> campaign multipliers
    # A checkpoint of the fold (rules/checkpoint.py): `events`, `received` and `recorded` are then only those
    # after it. None: folded from scratch, for `refold` (why: "no checkpoint", "a late event"...).
    base: Optional[Checkpoint] = None
    taken_at: Optional[datetime] = None  # no later than the read of the events
    refold: str = ""

    @property
    def latest_recorded(self) -> Optional[datetime]:
        """When the latest ledger entry was recorded (those before a checkpoint included)."""
        return max([e.recorded_at for e in self.recorded if e.recorded_at]
                   + ([self.base.last_recorded] if self.base and self.base.last_recorded else []), default=None)

    @property
    def decisions(self) -> dict[str, str]:
        """A national admin's decision on each held event that has one: "released" or "rejected"."""
        return {event_id: r.status for event_id, r in self.reviews.items() if r.status in abuse.DECISIONS}


@dataclass(frozen=True)
class Scored:
    """What the rules say now: the standing to store, the ledger entries and facts to append, the holds."""
    standing: LearnerStanding
    entries: list[LedgerEntry]
    facts: list[DomainEvent]
    holds: dict[str, Hold]
    kept_badges: tuple[str, ...] = ()  # badges the rules would not award now, kept (a badge is a promise)
    state: dict = field(default_factory=dict)  # the fold's state after every event (a checkpoint's)
    told: tuple[str, ...] = ()  # the rule versions the learner has been told of, these facts included


def compute(snapshot: Snapshot, rules: "Rules | RuleBook", catalogue: tuple[Badge, ...]) -> Scored:
    book, base = as_book(rules, catalogue), snapshot.base
    holds = _holds(snapshot, book)
    decisions = snapshot.decisions
    folded = fold(snapshot.learner_id, snapshot.events, book, catalogue, decisions, snapshot.boosts,
                  base=base.state if base else None, held=holds)
    standing = folded.standing
    stored = snapshot.stored
    kept = []
    if stored:  # a badge is a promise: a rule change never takes one away (a rejected event's does go)
        lost = {badge_id for badge_id in stored.standing.badges if badge_id not in standing.badges}
        promised = _taken_by_a_version(lost, snapshot, book, catalogue, decisions) if lost else set()
        for badge_id, award in stored.standing.badges.items():
            if badge_id in promised:
                standing.badges[badge_id] = award
                kept.append(badge_id)
    state = folded.state
    if stored and stored.erased_at:  # an erased learner's profile stays empty (learners/erasure.py)
        standing.profile = anonymous_profile(standing.profile)
        state = {**state, "profile": dataclasses.asdict(standing.profile)}  # nor kept in a checkpoint
    occurred = {e.id: e.occurred_at for e in snapshot.events}
    reasons = {event_id: ("rejected in review" if decisions.get(event_id) == "rejected" else "held for review")
               + f", {hold.why}" for event_id, hold in holds.items()}
    entries = entries_to_append(standing.ledger, recorded_totals(snapshot.recorded), occurred, reasons,
                                versions={e.id: book.at(e.occurred_at).id for e in snapshot.events},
                                was_under=_scored_under(snapshot), version_reasons=book.reasons,
                                base=book.versions[0].id)
    already = stored.standing.badges if stored else {}
    facts = [badge_awarded(snapshot.learner_id, award.badge_id, award.awarded_at, award.event_id)
             for award in standing.badges.values() if award.badge_id not in already]
    told, rescored = _told(snapshot, entries, book)
    return Scored(standing, entries, facts + rescored, holds, tuple(kept), state, told)


def _holds(snapshot: Snapshot, book: RuleBook) -> dict[str, Hold]:
    """The learner's held events under this book (each completion judged by its own version's limits)."""
    base = snapshot.base
    return holds_with(base, snapshot.events, book) if base else abuse.holds(snapshot.events, book)


def _taken_by_a_version(lost: set[str], snapshot: Snapshot, book: RuleBook, catalogue, decisions) -> set[str]:
    """The lost badges a rule version took away: an earlier state of the book (its first k versions, with the
    holds its own anti-abuse limits make) still awards them for these same events. That includes a badge whose
    event a newer version's stricter limits now hold. The others go, as if the events had come in order: those the
    learner's own events took away (a late completion moving minutes out of a streak's week, or pushing an earlier
    one over the limit) and those of rejected events. Folds only when a badge is lost, the book before the newest
    version first (the likeliest to have taken it), until every lost badge is found."""
    base, found = snapshot.base, set()
    for k in range(len(book.versions) - 1, 0, -1):
        before = RuleBook(book.versions[:k])
        earlier = fold(snapshot.learner_id, snapshot.events, before, catalogue, decisions,
                       snapshot.boosts, base=base.state if base else None, held=_holds(snapshot, before))
        found |= lost & set(earlier.standing.badges)
        if found == lost:
            break
    return found


def _scored_under(snapshot: Snapshot) -> dict[str, str]:
    """Event id -> the rule version it was last scored under ("": before versions were recorded), for every event
    a save has seen: those with ledger entries, and those received before the latest entry was recorded that
    earned nothing then (a completion over the monthly cap has no entry). Events with a review decision are left
    to the review's own wording."""
    scored = recorded_versions(snapshot.recorded)
    last = snapshot.latest_recorded
    if last is not None:
        for event_id, received in snapshot.received.items():
            if received <= last and event_id not in snapshot.reviews:
                scored.setdefault(event_id, "")
    return scored


def _told(snapshot: Snapshot, entries: list[LedgerEntry],
          book: RuleBook) -> tuple[tuple[str, ...], list[DomainEvent]]:
    """One `rules.rescored` fact per rule version that moves this learner's points, the first time it does (a
    learner is told once per version, however many runs the re-score takes); and every version told, these too."""
    def by_version(entry: LedgerEntry) -> str:
        prefix = f"rules of {entry.rules_version}: "
        return entry.rules_version if entry.note.removeprefix("Correction: ").startswith(prefix) else ""
    told = ({by_version(e) for e in snapshot.recorded} | set(snapshot.base.told if snapshot.base else ())) - {""}
    moved: dict[str, int] = {}
    for entry in entries:
        version = by_version(entry)
        if version and version not in told:
            moved[version] = moved.get(version, 0) + entry.amount
    return tuple(sorted(told | set(moved))), [
        rules_rescored(snapshot.learner_id, version, book.reasons[version], delta,
                       book.get(version).effective_from)  # type: ignore[union-attr]
        for version, delta in sorted(moved.items())]


def persisted(standing: LearnerStanding) -> LearnerStanding:
    """The standing as stored on the learner: without the ledger and the weekly minutes (kept elsewhere)."""
    return dataclasses.replace(standing, ledger=[], week_minutes=Counter())


def unchanged(snapshot: Snapshot, scored: Scored, scope_keys: tuple[str, ...]) -> bool:
    """A replay: the stored learner already says all of this, so there is nothing to write."""
    stored = snapshot.stored
    return bool(stored and not scored.entries and not scored.facts and stored.scopes == scope_keys
                and persisted(scored.standing) == stored.standing)
