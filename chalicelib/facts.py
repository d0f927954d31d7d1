"""Domain facts: what happened, recorded once by id in the facts table (domain-events), for reactions after a save.

Scoring and campaign closing record facts in the same write as the change they describe; each kind has one
handler, wired in bootstrap.py (FACT_HANDLERS) and run by `dispatch` (every minute, and at once after a
record for kinds that should not wait). A handler that fails leaves its facts pending: the next run retries.
Features never call each other's services to react: they record a fact, and the handler of its kind reacts.

Kinds, their payloads and handlers:
  badge.awarded    {badge_id, event_id[, campaign_id, name, description, criteria]}  badge digest (notifications)
  campaign.result  {campaign_id, goal_met, minutes, rank_in_org, awards, ...}         results message (notifications)
  review.rejected  {event_id, reason, by}                                             credential revocation
  org.moved        {org_id}                                                           re-score the org's learners
  rules.rescored   {version, reason, points}                                          the learner is told (notifications)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Optional, Protocol


@dataclass(frozen=True)
class DomainEvent:
    """A fact for other parts of the service (notifications...). Its id makes it appear once."""
    id: str
    kind: str
    learner_id: str
    occurred_at: datetime
    payload: dict
    # When the facts table got it (set by FactFeed.pending): a digest's window is the one it was recorded in.
    recorded_at: Optional[datetime] = field(default=None, compare=False)

    @property
    def recorded(self) -> datetime:
        return self.recorded_at or self.occurred_at


BADGE_AWARDED = "badge.awarded"
CAMPAIGN_RESULT = "campaign.result"
REVIEW_REJECTED = "review.rejected"
ORG_MOVED = "org.moved"
RULES_RESCORED = "rules.rescored"


def badge_awarded(learner_id: str, badge_id: str, awarded_at: datetime, event_id: Optional[str],
                  **details: Any) -> DomainEvent:
    """A badge is the learner's: from scoring (event_id) or from a campaign's close (details: its name...)."""
    return DomainEvent(f"{BADGE_AWARDED}:{learner_id}:{badge_id}", BADGE_AWARDED, learner_id, awarded_at,
                       {"badge_id": badge_id, **details, "event_id": event_id})


def campaign_result(campaign_id: str, learner_id: str, closed_at: datetime, **result: Any) -> DomainEvent:
    return DomainEvent(f"{CAMPAIGN_RESULT}:{campaign_id}:{learner_id}", CAMPAIGN_RESULT, learner_id, closed_at,
                       {"campaign_id": campaign_id, **result})


def review_rejected(learner_id: str, event_id: str, by: str, at: datetime) -> DomainEvent:
    """A national admin rejected a held event: what it would have earned is not the learner's."""
    return DomainEvent(f"{REVIEW_REJECTED}:{learner_id}:{event_id}", REVIEW_REJECTED, learner_id, at,
                       {"event_id": event_id, "by": by,
                        "reason": f"award withdrawn: event {event_id} was rejected in the anti-abuse review"})


def org_moved(org_id: str, written_by: str, at: datetime) -> DomainEvent:
    """An org's place in the tree changed (`written_by`: the org event that moved it): its learners' board
    scopes changed. Facts are keyed by learner; an org's fact stands under the org's id."""
    return DomainEvent(f"{ORG_MOVED}:{org_id}:{written_by}", ORG_MOVED, org_id, at, {"org_id": org_id})


def rules_rescored(learner_id: str, version: str, reason: str, points: int, effective_from: datetime) -> DomainEvent:
    """A rule version moved this learner's points by `points` (its corrections are in the ledger): tell them, once."""
    return DomainEvent(f"{RULES_RESCORED}:{learner_id}:{version}", RULES_RESCORED, learner_id, effective_from,
                       {"version": version, "reason": reason, "points": points})


class FactFeed(Protocol):
    def record(self, facts: list[DomainEvent], now: datetime) -> None:
        """Store these facts as pending (each once by id; recording one again makes it pending again)."""

    def pending(self, kind: str, before: datetime, limit: int) -> list[tuple[DomainEvent, datetime]]:
        """Facts of this kind recorded before `before` and not consumed yet, with when each was recorded."""

    def consumed(self, facts: list[DomainEvent]) -> None:
        """Take these facts off the pending list."""


def _now(adapters, now: datetime) -> datetime:
    return now


@dataclass(frozen=True)
class FactHandler:
    """What reacts to one kind of fact. `handle(facts, adapters, now, log)` reacts, marks each fact consumed
    (`consume`) once it is done with it (what it leaves stays pending for the next run) and returns how many
    reactions it made. `ready_before(adapters, now)`: facts recorded before it are due (a digest waits for its
    window to close). `immediate`: also handled right after `publish` records it, not only on the minute."""
    handle: Callable[..., int]
    ready_before: Callable[[Any, datetime], datetime] = _now
    batch: int = 500
    immediate: bool = False


def consume(adapters, facts: list[DomainEvent]) -> None:
    if adapters.facts is not None and facts:
        adapters.facts.consumed(facts)


def pending_for(kind: str, handler: FactHandler, adapters, now: datetime) -> list[DomainEvent]:
    """The facts of this kind that are due for their handler, oldest first."""
    if adapters.facts is None:
        return []
    return [replace(fact, recorded_at=at)
            for fact, at in adapters.facts.pending(kind, handler.ready_before(adapters, now), handler.batch)]


def dispatch(adapters, now: datetime, log=None) -> dict[str, int]:
    """Run each kind's handler (adapters.fact_handlers) over its due facts; returns what each reacted."""
    done: dict[str, int] = {}
    for kind, handler in adapters.fact_handlers.items():
        pending = pending_for(kind, handler, adapters, now)
        if pending:
            done[kind] = _run(kind, handler, pending, adapters, now, log)
    return done


def publish(facts: list[DomainEvent], adapters, now: datetime, log=None) -> None:
    """Record facts that no save of their own carries (a review decision, an org move), then react at once to
    the kinds that should not wait. Recorded first: if the reaction fails, the minute's dispatch retries it."""
    record(facts, adapters, now)
    react(facts, adapters, now, log)


def record(facts: list[DomainEvent], adapters, now: datetime) -> None:
    if adapters.facts is not None and facts:
        adapters.facts.record(facts, now)


def react(facts: list[DomainEvent], adapters, now: datetime, log=None) -> None:
    """Run the handlers of the immediate kinds over these (recorded) facts; without a facts table, of every
    kind, since nothing would retry them."""
    handlers = adapters.fact_handlers
    for kind in sorted({f.kind for f in facts}):
        handler = handlers.get(kind)
        if handler is not None and (handler.immediate or adapters.facts is None):
            _run(kind, handler, [f for f in facts if f.kind == kind], adapters, now, log)


def _run(kind: str, handler: FactHandler, facts: list[DomainEvent], adapters, now: datetime, log) -> int:
    try:
        return handler.handle(facts, adapters, now, log)
    except Exception as exc:  # noqa: BLE001 (one kind's trouble must not hold up the others; left pending)
        if log:
            log.error("fact handler failed", extra={"kind": kind, "error": type(exc).__name__})
        return 0
