"""The one place adapters are chosen and wired. Use cases receive an Adapters; tests pass in-memory ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from chalicelib import settings
from chalicelib.rules.config import Badge, Rules, badge_catalogue, default_rules
from chalicelib.identity.tokens import KeySet, TokenVerifier
from chalicelib.leaderboards.settings import board_settings
from chalicelib.storage.boards import BoardStore
from chalicelib.storage.ports import EventStore, LearnerRepository, OrgRepository, StreamQueue


@dataclass
class Adapters:
    events: EventStore
    learners: LearnerRepository
    orgs: OrgRepository
    queue: StreamQueue
    boards: BoardStore
    rules: Rules = field(default_factory=default_rules)
    catalogue: tuple[Badge, ...] = field(default_factory=badge_catalogue)
    limits: settings.Limits = field(default_factory=settings.Limits)
    webhook_secrets: Callable[[], list[str]] = settings.webhook_secrets
    tokens: TokenVerifier = field(default_factory=lambda: TokenVerifier(
        KeySet(settings.jwks), settings.JWT_ISSUER, settings.JWT_AUDIENCE, settings.JWT_LEEWAY_SECONDS))


@lru_cache(maxsize=1)
def _aws_clients():
    import boto3  # created once per process: a client costs 80-200 ms
    return {"sqs": boto3.client("sqs", region_name=settings.REGION)}


def aws_adapters() -> Adapters:
    from chalicelib.queues import SqsStreamQueue
    from chalicelib.storage.boards import DynamoBoardStore
    from chalicelib.storage.dynamodb import DynamoEventStore, DynamoLearnerRepository, DynamoOrgRepository
    return Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                    queue=SqsStreamQueue(_aws_clients()["sqs"], settings.SCORING_QUEUE),
                    boards=DynamoBoardStore(board_settings()))


def memory_adapters(**overrides) -> Adapters:
    from chalicelib.storage.boards import MemoryBoardStore
    from chalicelib.storage.memory import (MemoryEventStore, MemoryLearnerRepository, MemoryOrgRepository,
                                           MemoryStreamQueue)
    parts = dict(events=MemoryEventStore(), learners=MemoryLearnerRepository(), orgs=MemoryOrgRepository(),
                 queue=MemoryStreamQueue(), boards=MemoryBoardStore(board_settings()))
    parts.update(overrides)
    return Adapters(**parts)


_current: Adapters | None = None


def adapters() -> Adapters:
    global _current
    if _current is None:
        _current = aws_adapters()
    return _current


def use(replacement: Adapters | None) -> None:
    """Swap the wiring (tests); None goes back to AWS adapters on next use."""
    global _current
    _current = replacement
