"""Storage of the nudge schedule: where each learner stands on the nudge ladder (notifications/nudges.py).
DynamoDB adapter and an in-memory fake with the same behaviour."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Protocol

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.notifications.models import NudgeScheduleRecord
from chalicelib.sharding import shard_of
from chalicelib.storage.conditions import applied, conditional_failed


@dataclass(frozen=True)
class NudgeEntry:
    learner_id: str
    spell: str  # "<local date last active>" or "never:<local date known>"
    rung: int  # the next rung
    due: Optional[str]  # local date (ISO); None: the ladder is over
    org_id: Optional[str] = None


class NudgeSchedule(Protocol):
    def start_spell(self, entry: NudgeEntry, shards: int) -> None:
        """A new spell of inactivity begins (the learner learned, or the roster knew them): rung 1 from now on.
        Never goes back to an older spell (replays and late recomputes)."""

    def due_entries(self, shard: int, today: str, limit: int,
                    after: Optional[tuple[str, str]] = None) -> tuple[list[NudgeEntry], Optional[tuple[str, str]]]:
        """Entries due on or before today, one page of one shard, and where to continue."""

    def advance(self, entry: NudgeEntry, rung: int, due: Optional[str], shards: int) -> bool:
        """Move to the next rung (or end the ladder: due None), unless the spell changed meanwhile."""

    def get(self, learner_id: str) -> Optional[NudgeEntry]: ...


def _entry(r: NudgeScheduleRecord) -> NudgeEntry:
    return NudgeEntry(r.learner_id, r.spell, int(r.rung), r.due, r.org_id)


class DynamoNudgeSchedule:
    def start_spell(self, entry, shards):
        R = NudgeScheduleRecord
        try:
            R(entry.learner_id, spell=entry.spell, rung=entry.rung, org_id=entry.org_id, due=entry.due,
              nudge_shard=f"n#{shard_of(entry.learner_id, shards)}").save(
                condition=R.learner_id.does_not_exist() | (R.spell < entry.spell))
        except PutError as exc:
            if not conditional_failed(exc):
                raise

    def due_entries(self, shard, today, limit, after=None):
        R = NudgeScheduleRecord
        last_key = ({"nudge_shard": {"S": f"n#{shard}"}, "due": {"S": after[0]}, "learner_id": {"S": after[1]}}
                    if after else None)
        result = R.by_due.query(f"n#{shard}", R.due <= today, limit=limit, page_size=limit,
                                last_evaluated_key=last_key)
        entries = [_entry(r) for r in result]
        more = result.last_evaluated_key
        return entries, ((more["due"]["S"], more["learner_id"]["S"]) if more else None)

    def advance(self, entry, rung, due, shards):
        R = NudgeScheduleRecord
        actions = [R.rung.set(rung)]
        actions += [R.due.set(due), R.nudge_shard.set(f"n#{shard_of(entry.learner_id, shards)}")] if due \
            else [R.due.remove(), R.nudge_shard.remove()]
        return applied(lambda: R(entry.learner_id).update(
            actions=actions, condition=(R.spell == entry.spell) & (R.rung == entry.rung)))

    def get(self, learner_id):
        try:
            return _entry(NudgeScheduleRecord.get(learner_id, consistent_read=True))
        except DoesNotExist:
            return None


class MemoryNudgeSchedule:
    def __init__(self):
        self.entries: dict[str, NudgeEntry] = {}

    def start_spell(self, entry, shards):
        current = self.entries.get(entry.learner_id)
        if current is None or current.spell < entry.spell:
            self.entries[entry.learner_id] = entry

    def due_entries(self, shard, today, limit, after=None):
        if shard != 0:  # one shard in memory: the others are empty
            return [], None
        found = sorted((e.due, e.learner_id) for e in self.entries.values() if e.due and e.due <= today)
        if after:
            found = [k for k in found if k > tuple(after)]
        page = found[:limit]
        return [self.entries[i] for _, i in page], (page[-1] if len(found) > limit else None)

    def advance(self, entry, rung, due, shards):
        current = self.entries.get(entry.learner_id)
        if current is None or (current.spell, current.rung) != (entry.spell, entry.rung):
            return False
        self.entries[entry.learner_id] = dataclasses.replace(current, rung=rung, due=due)
        return True

    def get(self, learner_id):
        return self.entries.get(learner_id)
