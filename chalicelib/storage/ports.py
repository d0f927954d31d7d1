"""The small interfaces the use cases depend on. storage/dynamodb.py and storage/memory.py implement them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Protocol

from chalicelib.events import ID_PATTERN, Event, OrgBlock
from chalicelib.learners.ledger import LedgerEntry
from chalicelib.rules.abuse import Hold
from chalicelib.rules.learner import LearnerStanding, Profile
from chalicelib.rules.periods import utc_stamp
from chalicelib.rules.privacy import Listing


class ConcurrentUpdate(Exception):
    """Someone else saved the same learner first: read again and recompute."""


@dataclass(frozen=True)
class DomainEvent:
    """A fact for other parts of the service (notifications...). Its id makes it appear once."""
    id: str
    kind: str
    learner_id: str
    occurred_at: datetime
    payload: dict


@dataclass(frozen=True)
class StoredLearner:
    standing: LearnerStanding  # without ledger and weekly minutes, which are not stored on the learner
    version: int
    scopes: tuple[str, ...] = ()  # the board scopes the learner's entries were last written under
    preferences: Optional[dict] = None  # the fields the learner set (learners/preferences.py); never scored
    erased_at: Optional[datetime] = None  # set by erasure: the profile stays empty from then on


@dataclass(frozen=True)
class Org:
    id: str
    name: str
    type: str
    parent_id: Optional[str]


class EventStore(Protocol):
    def add(self, event: Event, received_at: datetime, body_hash: Optional[str] = None) -> bool:
        """Store durably, with the hash of the body as received (webhook.py). False if an event with this id is
        already in its stream (nothing is overwritten)."""

    def body_hash(self, stream: str, event_id: str) -> Optional[str]:
        """The hash stored with an event (None for an event stored without one, or none stored): a re-sent id
        with another hash is a conflict, not a duplicate."""

    def stream(self, stream: str) -> list[Event]:
        """Every event of one stream, in no particular order."""

    def stream_received(self, stream: str) -> tuple[list[Event], dict[str, datetime]]:
        """stream(), with when each event was first received (by id): campaigns leave out events received
        after their grace period. The same single read."""

    def rewrite(self, stream: str, event_id: str, body: dict) -> None:
        """Replace a stored event's body (erasure only: personal data out, everything scored kept)."""


class LearnerRepository(Protocol):
    def get(self, learner_id: str) -> Optional[StoredLearner]: ...

    def approximate_count(self) -> int:
        """How many learners there are, as of the last few hours (sizes work such as the weekly audit)."""

    def names(self, learner_ids: list[str]) -> dict[str, Listing]:
        """What a board page needs to list these learners (name, org, visibility...): one batch read."""

    def set_preferences(self, learner_id: str, preferences: dict) -> bool:
        """Write the preferences attribute alone. False if there is no such learner."""

    def mark_erased(self, learner_id: str, profile: Profile, at: datetime) -> Optional[datetime]:
        """Write this (emptied) profile, drop the preferences, set erased_at unless set, and bump the version
        so that a scoring save in flight fails and re-reads. Returns erased_at (None: no such learner)."""

    def erased(self, learner_ids: list[str]) -> set[str]:
        """Those of these learners who have been erased."""

    def started(self, learner_ids: list[str]) -> set[str]:
        """Those of these learners who have learned something (a completion or learning minutes): one batch read."""

    def ledger(self, learner_id: str) -> list[LedgerEntry]:
        """Every recorded entry, oldest first."""

    def ledger_page(self, learner_id: str, limit: int,
                    before_seq: Optional[str]) -> tuple[list[LedgerEntry], Optional[str]]:
        """Newest first; returns the entries and the seq to continue before, if there are more."""

    def save(self, standing: LearnerStanding, entries: list[LedgerEntry], facts: list[DomainEvent],
             expected_version: int, scopes: tuple[str, ...] = ()) -> None:
        """All or nothing; raises ConcurrentUpdate if the stored version is no longer expected_version."""


class OrgRepository(Protocol):
    def upsert(self, org: OrgBlock, written_by: str) -> bool:
        """Write unless a later event (by written_by, '<occurred_at>|<id>') already wrote this org. True when
        the org is new or moved in the tree (its type or parent changed)."""

    def children(self, org_id: str) -> list[str]: ...

    def get(self, org_id: str) -> Optional[Org]: ...

    def names(self, org_ids: list[str]) -> dict[str, str]: ...


class StreamQueue(Protocol):
    def send(self, streams: list[str], delay_seconds: int = 0) -> None:
        """Ask for these streams to be (re)computed; at-least-once."""


# --- anti-abuse review (rules/abuse.py, review/service.py) -------------------------------------------------

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
