"""The feed of domain facts not consumed yet (awards and the like that notifications announce): the pending
index of the domain-events table, or the in-memory learner repository's facts."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from chalicelib.storage.models import PENDING_FACT_SHARDS, DomainEventRecord
from chalicelib.storage.ports import DomainEvent


class FactFeed(Protocol):
    def pending(self, kind: str, before: datetime, limit: int) -> list[tuple[DomainEvent, datetime]]:
        """Facts of this kind recorded before `before` and not consumed yet, with when each was recorded."""

    def consumed(self, facts: list[DomainEvent]) -> None:
        """Take these facts off the pending list."""


class DynamoFactFeed:
    def pending(self, kind, before, limit):
        R, found = DomainEventRecord, []
        for shard in range(PENDING_FACT_SHARDS):
            found += [(DomainEvent(r.id, r.kind, r.learner_id, r.occurred_at, r.payload), r.created_at)
                      for r in R.pending_index.query(f"{kind}#{shard}", R.created_at < before, limit=limit,
                                                     page_size=limit)]
        return found

    def consumed(self, facts):
        for fact in facts:
            DomainEventRecord(fact.id).update(actions=[DomainEventRecord.pending.remove()])


@dataclass
class MemoryFactFeed:
    """Reads the facts MemoryLearnerRepository.save stored; remembers which were consumed."""
    learners: object
    done: set = field(default_factory=set)

    def pending(self, kind, before, limit):
        # The in-memory repository keeps no write time: a fact counts as recorded when it occurred.
        facts = [f for f in self.learners.facts.values()
                 if f.kind == kind and f.id not in self.done and f.occurred_at < before]
        return [(f, f.occurred_at) for f in sorted(facts, key=lambda f: (f.occurred_at, f.id))[:limit]]

    def consumed(self, facts):
        self.done.update(f.id for f in facts)
