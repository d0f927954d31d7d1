"""Anti-abuse review: what is known about a held event, and the interface its stores implement (review/store.py
has the DynamoDB adapter and its in-memory twin)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Protocol

from chalicelib.events import ID_PATTERN
from chalicelib.rules.abuse import Hold
from chalicelib.rules.periods import utc_stamp


@dataclass(frozen=True)
class Review:
    """What is known about one held event: why it was held, and the national admin's decision if any."""
    hold: Hold
    status: str  # "held" (awaiting review), "released" or "rejected"
    held_at: Optional[datetime] = None
    decided_by: Optional[str] = None
    decided_at: Optional[datetime] = None
    note: Optional[str] = None


class AlreadyDecided(Exception):
    """The event was already decided the other way; decisions are final."""

    def __init__(self, review: Review):
        super().__init__(review.hold.event_id)
        self.review = review


class ReviewStore(Protocol):
    def for_learner(self, learner_id: str) -> dict[str, Review]:
        """Every review item of one learner, by event id (a consistent read)."""

    def hold(self, holds: list[Hold], now: datetime) -> None:
        """Record these held events as awaiting review, unless decided already (then left alone). Idempotent."""

    def unhold(self, holds: list[Hold]) -> None:
        """Take events that are no longer held off the list, unless decided meanwhile."""

    def decide(self, hold: Hold, status: str, by: str, at: datetime, note: Optional[str]) -> Review:
        """Record a decision on a held event and take it off the held list. Deciding it the same way again
        returns the first decision unchanged; the other way raises AlreadyDecided."""

    def held_page(self, limit: int, before: Optional[str]) -> tuple[list[Review], Optional[str]]:
        """Events awaiting review across learners, newest occurred_at first, and the position to continue
        before (a `held_position`) if there are more."""


def held_position(hold: Hold) -> str:
    """Where a held event sorts in the review list: when it occurred, then learner and event id."""
    return f"{utc_stamp(hold.occurred_at)}|{hold.learner_id}|{hold.event_id}"


HELD_POSITION = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|" + ID_PATTERN + r"\|" + ID_PATTERN
