"""What holds a notification back: the suppression list (addresses never to send to); the budget counters it also
spends are chalicelib/counters.py. DynamoDB adapter and in-memory fake with the same behaviour."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Optional, Protocol

from pynamodb.exceptions import DoesNotExist

from chalicelib.notifications.models import SuppressionRecord


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
