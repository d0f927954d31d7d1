"""Anti-abuse: course completions arriving faster than a person can learn are held for review, not scored.

Pure and deterministic over the event set, like the rest of the rules. A completion is *held* when, counting
the learner's course completions in (occurred_at, id) order, it is the (max + 1)-th or later of those that
occurred less than `window_minutes` before it (itself included). Every completion is counted, held or not,
and decisions are not: so the held set depends on the events alone, only grows as events arrive, and
releasing one held event never makes another one held or un-held.

Each completion is judged by the limits in force at its occurred_at (the rule version then, docs/rule-versions.md):
`holds` takes the rule book (or one `Rules`, one `AbuseLimits`, or a function instant -> limits), never "the
limits now", so a version that changes the rate holds exactly the completions from its effective_from on.

What the fold scores is then a function of (events, decisions): a held event is left out unless a national
admin released it; a rejected one stays out for good, even if a later change of the rule's numbers would no
longer hold it; a release only matters for an event that is held.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Optional

RULE = "completion_rate"
HELD, RELEASED, REJECTED = "held", "released", "rejected"
DECISIONS = (RELEASED, REJECTED)


@dataclass(frozen=True)
class AbuseLimits:
    max_completions: int = 20  # per window; 0 turns the rule off
    window_minutes: int = 60


@dataclass(frozen=True)
class Hold:
    """One held event and why: `count` completions (itself included) within `window_minutes` up to it."""
    event_id: str
    learner_id: str
    org_id: Optional[str]
    type: str
    occurred_at: datetime
    count: int
    limit: int
    window_minutes: int
    rule: str = RULE

    @property
    def why(self) -> str:
        return (f"{self.count} course completions within {self.window_minutes} minutes "
                f"(at most {self.limit} are scored without review)")


LimitsAt = Callable[[datetime], AbuseLimits]


def limits_at(source: Any) -> LimitsAt:
    """instant -> the limits in force then, from a rule book (its `abuse_at`), one `Rules` (its `abuse`), one
    `AbuseLimits`, or such a function itself."""
    if isinstance(source, AbuseLimits):
        return lambda _: source
    if hasattr(source, "abuse_at"):
        return source.abuse_at
    if isinstance(getattr(source, "abuse", None), AbuseLimits):
        return lambda _: source.abuse
    if callable(source):
        return source
    raise TypeError(f"no anti-abuse limits in {type(source).__name__}")


def holds(events: Iterable, limits: Any) -> dict[str, Hold]:
    """The learner's events over the rate, by event id. Duplicates (same id) count once. `limits`: see
    `limits_at`; each completion is judged by the limits in force at its own occurred_at."""
    if isinstance(limits, AbuseLimits) and limits.max_completions <= 0:
        return {}
    at = limits_at(limits)
    unique: dict = {}
    for event in events:
        if event.type == "course.completed":
            unique.setdefault(event.id, event)
    completions = sorted(unique.values(), key=lambda e: e.order_key)
    held = {}
    for position, event in enumerate(completions):
        own = at(event.occurred_at)
        if own.max_completions <= 0:
            continue
        window = timedelta(minutes=own.window_minutes)
        # The first completion less than the window before this one (times ascend: a binary search). A
        # difference of two instants, never an instant minus the window: that overflows near year 1.
        low, high = 0, position
        while low < high:
            middle = (low + high) // 2
            if event.occurred_at - completions[middle].occurred_at >= window:
                low = middle + 1
            else:
                high = middle
        count = position - low + 1
        if count > own.max_completions:
            held[event.id] = Hold(event.id, event.learner.id, event.learner.org_id, event.type, event.occurred_at,
                                  count, own.max_completions, own.window_minutes)
    return held


def excluded(held: Mapping[str, Hold], decisions: Mapping[str, str]) -> set[str]:
    """Events the fold must leave out: held ones but the released, and every rejected one."""
    return ({event_id for event_id in held if decisions.get(event_id) != RELEASED}
            | {event_id for event_id, decision in decisions.items() if decision == REJECTED})


def pending(held: Mapping[str, Hold], decisions: Mapping[str, str]) -> set[str]:
    """Held events no one has decided yet."""
    return {event_id for event_id in held if decisions.get(event_id) not in DECISIONS}
