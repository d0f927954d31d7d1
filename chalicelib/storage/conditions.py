"""Conditional writes, the way every store says "someone got there first" (idempotency, optimistic locking)."""
from __future__ import annotations

from typing import Callable

from pynamodb.exceptions import PynamoDBException


def conditional_failed(exc: Exception) -> bool:
    """A PynamoDB write error caused by the write's condition, not by DynamoDB or the network."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def applied(write: Callable[[], object]) -> bool:
    """Run one conditional write: True if it was applied, False if its condition failed."""
    try:
        write()
    except PynamoDBException as exc:
        if conditional_failed(exc):
            return False
        raise
    return True
