"""The small interfaces the use cases depend on. storage/dynamodb.py and storage/memory.py implement them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Protocol

from chalicelib.events import Event, OrgBlock
from chalicelib.facts import DomainEvent
from chalicelib.learners.ledger import LedgerEntry
from chalicelib.rules.checkpoint import Checkpoint
from chalicelib.rules.learner import LearnerStanding, Profile, StoredLearner
from chalicelib.rules.privacy import Listing


class ConcurrentUpdate(Exception):
    """Someone else saved the same learner first: read again and recompute."""


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

    def received_since(self, stream: str, since: datetime) -> tuple[list[Event], dict[str, datetime]]:
        """stream_received(), only for the events received at or after `since` (strongly consistent)."""

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

    def scan_page(self, segment: int, segments: int, after: Optional[str],
                  limit: int) -> tuple[list[tuple[str, Optional[str], Optional[datetime]]], Optional[str]]:
        """One page of one scan segment: (learner id, org id, last_active_at) each, and the learner id to continue
        after (None: the segment is done). For jobs over every learner (chalicelib/rescore.py)."""

    def ledger(self, learner_id: str) -> list[LedgerEntry]:
        """Every recorded entry, oldest first."""

    def ledger_after(self, learner_id: str, after_seq: str) -> list[LedgerEntry]:
        """The entries recorded after `after_seq` (a checkpoint's ledger_after), oldest first."""

    def checkpoint(self, learner_id: str) -> Optional[Checkpoint]:
        """The learner's latest checkpoint of the fold (rules/checkpoint.py), if any."""

    def put_checkpoint(self, checkpoint: Checkpoint, version: int) -> bool:
        """Write a checkpoint computed from the learner at `version`, if it still is at that version (a replay
        that re-folded from scratch writes nothing else). False if it no longer is."""

    def drop_checkpoint(self, learner_id: str) -> None:
        """Delete the learner's checkpoint (erasure: it holds the profile as folded)."""

    def ledger_page(self, learner_id: str, limit: int,
                    before_seq: Optional[str]) -> tuple[list[LedgerEntry], Optional[str]]:
        """Newest first; returns the entries and the seq to continue before, if there are more."""

    def save(self, standing: LearnerStanding, entries: list[LedgerEntry], facts: list[DomainEvent],
             expected_version: int, scopes: tuple[str, ...] = (), checkpoint: Optional[Checkpoint] = None) -> None:
        """All or nothing; raises ConcurrentUpdate if the stored version is no longer expected_version. With a
        checkpoint, writes it too (rules/checkpoint.py saved_as: the version written, when entries were recorded)."""


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

