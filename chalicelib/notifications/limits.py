"""What holds a notification back: the suppression list (addresses never to send to) and budget counters (with
jobs' resumable positions). DynamoDB adapters and in-memory fakes with the same behaviour."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Optional, Protocol

from pynamodb.exceptions import DoesNotExist

from chalicelib.notifications.models import CounterRecord, SuppressionRecord
from chalicelib.storage.conditions import applied


def address_hash(channel: str, address: str) -> str:
    """How the suppression list names an address: a hash, so the list holds no contact details."""
    normal = address.strip().lower() if channel == "email" else address.strip()
    return hashlib.sha256(f"{channel}:{normal}".encode()).hexdigest()


class SuppressionList(Protocol):
    def add(self, channel: str, address: str, reason: str, at: datetime) -> None: ...

    def reason(self, channel: str, address: str) -> Optional[str]:
        """Why this address is suppressed, or None."""


class DynamoSuppressionList:
    def add(self, channel, address, reason, at):
        SuppressionRecord(address_hash(channel, address), reason=reason, at=at).save()

    def reason(self, channel, address):
        try:
            return SuppressionRecord.get(address_hash(channel, address), consistent_read=True).reason
        except DoesNotExist:
            return None


class MemorySuppressionList:
    def __init__(self):
        self.entries: dict[str, str] = {}

    def add(self, channel, address, reason, at):
        self.entries[address_hash(channel, address)] = reason

    def reason(self, channel, address):
        return self.entries.get(address_hash(channel, address))


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
