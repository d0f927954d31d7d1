"""In-memory fakes of the storage interfaces, for fast unit tests of the use cases."""
from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timezone
from typing import Optional

from chalicelib.events import Event, OrgBlock, parse_stored, stream_of
from chalicelib.learners.ledger import LedgerEntry
from chalicelib.rules.checkpoint import Checkpoint, from_json as checkpoint_from, saved_as, to_json as checkpoint_json
from chalicelib.rules.privacy import Listing
from chalicelib.facts import DomainEvent
from chalicelib.storage.ports import ConcurrentUpdate, Org, StoredLearner


class MemoryEventStore:
    def __init__(self):
        self.streams: dict[str, dict[str, Event]] = {}
        self.received: dict[tuple[str, str], datetime] = {}
        self.hashes: dict[tuple[str, str], str] = {}

    def add(self, event: Event, received_at: datetime, body_hash: Optional[str] = None) -> bool:
        stream = self.streams.setdefault(stream_of(event), {})
        if event.id in stream:
            return False
        stream[event.id] = event
        self.received[(stream_of(event), event.id)] = received_at
        if body_hash is not None:
            self.hashes[(stream_of(event), event.id)] = body_hash
        return True

    def body_hash(self, stream: str, event_id: str) -> Optional[str]:
        return self.hashes.get((stream, event_id))

    def stream(self, stream: str) -> list[Event]:
        return list(self.streams.get(stream, {}).values())

    def stream_received(self, stream: str):
        events = self.stream(stream)
        return events, {e.id: self.received[(stream, e.id)] for e in events if (stream, e.id) in self.received}

    def received_since(self, stream: str, since: datetime):
        events, received = self.stream_received(stream)
        kept = [e for e in events if e.id in received and received[e.id] >= since]
        return kept, {e.id: received[e.id] for e in kept}

    def rewrite(self, stream: str, event_id: str, body: dict) -> None:
        if event_id in self.streams.get(stream, {}):
            self.streams[stream][event_id] = parse_stored(body)


class MemoryLearnerRepository:
    def __init__(self):
        self.learners: dict[str, StoredLearner] = {}
        self.entries: dict[str, list[LedgerEntry]] = {}
        self.facts: dict[str, DomainEvent] = {}
        self.checkpoints: dict[str, str] = {}  # learner id -> the checkpoint as stored (rules/checkpoint.py JSON)

    def get(self, learner_id: str) -> Optional[StoredLearner]:
        return copy.deepcopy(self.learners.get(learner_id))

    def approximate_count(self) -> int:
        return len(self.learners)

    def scan_page(self, segment, segments, after, limit):
        from chalicelib.sharding import shard_of
        ids = sorted(i for i in self.learners if shard_of(i, segments) == segment and (after is None or i > after))
        page = ids[:limit]
        rows = [(i, self.learners[i].standing.profile.org_id, self.learners[i].standing.last_active_at) for i in page]
        return rows, (page[-1] if len(ids) > limit else None)

    def names(self, learner_ids) -> dict[str, Listing]:
        found = {i: self.learners[i] for i in learner_ids if i in self.learners}
        return {i: Listing(s.standing.profile.name, s.standing.profile.org_id,
                           (s.preferences or {}).get("leaderboard_visibility"), s.erased_at is not None, s.scopes)
                for i, s in found.items()}

    def set_preferences(self, learner_id: str, preferences: dict) -> bool:
        if learner_id not in self.learners:
            return False
        self.learners[learner_id] = dataclasses.replace(self.learners[learner_id], preferences=dict(preferences))
        return True

    def mark_erased(self, learner_id, profile, at):
        current = self.learners.get(learner_id)
        if current is None:
            return None
        standing = dataclasses.replace(copy.deepcopy(current.standing), profile=copy.deepcopy(profile))
        self.learners[learner_id] = dataclasses.replace(current, standing=standing, version=current.version + 1,
                                                        preferences=None, erased_at=current.erased_at or at)
        return self.learners[learner_id].erased_at

    def started(self, learner_ids) -> set[str]:
        return {i for i in learner_ids if i in self.learners and
                (self.learners[i].standing.courses_completed > 0 or self.learners[i].standing.learning_minutes > 0)}

    def erased(self, learner_ids) -> set[str]:
        return {i for i in learner_ids if i in self.learners and self.learners[i].erased_at is not None}

    def ledger(self, learner_id: str) -> list[LedgerEntry]:
        return list(self.entries.get(learner_id, []))

    def ledger_after(self, learner_id: str, after_seq: str) -> list[LedgerEntry]:
        return [e for e in self.ledger(learner_id) if e.seq > after_seq]

    def checkpoint(self, learner_id: str) -> Optional[Checkpoint]:
        stored = self.checkpoints.get(learner_id)
        return checkpoint_from(json.loads(stored)) if stored else None

    def put_checkpoint(self, checkpoint: Checkpoint, version: int) -> bool:
        current = self.learners.get(checkpoint.learner_id)
        if current is None or current.version != version:
            return False
        self.checkpoints[checkpoint.learner_id] = json.dumps(checkpoint_json(saved_as(checkpoint, version, None)))
        return True

    def drop_checkpoint(self, learner_id: str) -> None:
        self.checkpoints.pop(learner_id, None)

    def ledger_page(self, learner_id, limit, before_seq):
        newest_first = [e for e in reversed(self.ledger(learner_id)) if not before_seq or e.seq < before_seq]
        page = newest_first[:limit]
        return page, (page[-1].seq if len(newest_first) > limit else None)

    def save(self, standing, entries, facts, expected_version, scopes=(), checkpoint=None):
        current = self.learners.get(standing.learner_id)
        if (current.version if current else 0) != expected_version:
            raise ConcurrentUpdate(standing.learner_id)
        version = expected_version + 1
        recorded, now = self.entries.setdefault(standing.learner_id, []), datetime.now(timezone.utc)
        for position, entry in enumerate(entries):
            recorded.append(dataclasses.replace(entry, seq=f"{version:010d}.{position:03d}", recorded_at=now))
        if checkpoint is not None:  # as stored: JSON, so that a value it cannot round-trip shows in the tests
            self.checkpoints[standing.learner_id] = json.dumps(checkpoint_json(
                saved_as(checkpoint, version, now if entries else None)))
        standing = copy.deepcopy(standing)
        standing.ledger, standing.week_minutes = [], standing.week_minutes.__class__()
        # Like the DynamoDB save, an update of what scoring computes: preferences and erasure mark stay.
        self.learners[standing.learner_id] = StoredLearner(standing, version, tuple(scopes),
                                                           current.preferences if current else None,
                                                           current.erased_at if current else None)
        self.facts.update({f.id: f for f in facts})


class MemoryOrgRepository:
    def __init__(self):
        self.orgs: dict[str, tuple[str, Org]] = {}

    def upsert(self, org: OrgBlock, written_by: str) -> bool:
        if org.id in self.orgs and self.orgs[org.id][0] >= written_by:
            return False
        before = self.orgs.get(org.id, (None, None))[1]
        self.orgs[org.id] = (written_by, Org(org.id, org.name, org.type, org.parent_id))
        return before is None or (before.type, before.parent_id) != (org.type, org.parent_id)

    def children(self, org_id: str) -> list[str]:
        return [org.id for _, org in self.orgs.values() if org.parent_id == org_id]

    def names(self, org_ids) -> dict[str, str]:
        return {i: self.orgs[i][1].name for i in org_ids if i in self.orgs}

    def get(self, org_id: str) -> Optional[Org]:
        return self.orgs[org_id][1] if org_id in self.orgs else None


class MemoryStreamQueue:
    def __init__(self):
        self.sent: list[str] = []

    def send(self, streams: list[str], delay_seconds: int = 0) -> None:
        self.sent.extend(streams)

    def drain(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


@dataclasses.dataclass
class MemoryFactFeed:
    """Reads the facts MemoryLearnerRepository.save stored (and those recorded here); remembers which were
    consumed. Without a write time of its own for saved facts, a fact counts as recorded when it occurred."""
    learners: MemoryLearnerRepository
    done: set = dataclasses.field(default_factory=set)

    def record(self, facts, now):
        for f in facts:
            self.learners.facts[f.id] = dataclasses.replace(f, recorded_at=now)
            self.done.discard(f.id)

    def pending(self, kind, before, limit):
        facts = [f for f in self.learners.facts.values()
                 if f.kind == kind and f.id not in self.done and f.recorded < before]
        return [(f, f.recorded) for f in sorted(facts, key=lambda f: (f.recorded, f.id))[:limit]]

    def consumed(self, facts):
        self.done.update(f.id for f in facts)
