"""Budget counters (count one use unless a limit is reached: notification caps per learner and day, campaigns one
admin creates a day) and resumable jobs' stored positions, in one counters table. DynamoDB adapter and in-memory
fake with the same behaviour."""
from __future__ import annotations

from typing import Optional, Protocol

from chalicelib.notifications.models import CounterRecord
from chalicelib.storage.conditions import applied


class Counters(Protocol):
    def take(self, key: str, limit: int) -> bool:
        """Count one use unless `limit` uses are counted already. False: the budget is spent."""

    def position(self, key: str) -> Optional[str]:
        """A resumable job's stored position (None: not started)."""

    def move(self, key: str, expected: Optional[str], position: str) -> bool:
        """Store the new position unless another run moved it since `expected` was read."""


class DynamoCounters:
    def take(self, key, limit):
        record = CounterRecord(key)
        return applied(lambda: record.update(
            actions=[CounterRecord.used.add(1)],
            condition=CounterRecord.key.does_not_exist() | (CounterRecord.used < limit)))

    def position(self, key):
        try:
            return CounterRecord.get(key, consistent_read=True).position
        except CounterRecord.DoesNotExist:
            return None

    def move(self, key, expected, position):
        R = CounterRecord
        condition = R.position.does_not_exist() if expected is None else (R.position == expected)
        return applied(lambda: R(key).update(actions=[R.position.set(position)], condition=condition))


class MemoryCounters:
    def __init__(self):
        self.used: dict[str, int] = {}
        self.positions: dict[str, str] = {}

    def take(self, key, limit):
        if self.used.get(key, 0) >= limit:
            return False
        self.used[key] = self.used.get(key, 0) + 1
        return True

    def position(self, key):
        return self.positions.get(key)

    def move(self, key, expected, position):
        if self.positions.get(key) != expected:
            return False
        self.positions[key] = position
        return True
