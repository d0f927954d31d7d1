"""The one place adapters are chosen and wired. Use cases receive an Adapters; tests pass in-memory ones."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from chalicelib import settings
from chalicelib.rules.config import Badge, Rules, badge_catalogue, default_rules
from chalicelib.identity.tokens import KeySet, TokenVerifier
from chalicelib.leaderboards.settings import board_settings
from chalicelib.rosters.employees import MemoryRosterStore, RosterStore
from chalicelib.storage.boards import BoardStore
from chalicelib.storage.ports import EventStore, LearnerRepository, OrgRepository, ReviewStore, StreamQueue


@dataclass
class Adapters:
    events: EventStore
    learners: LearnerRepository
    orgs: OrgRepository
    queue: StreamQueue
    boards: BoardStore
    # Anti-abuse review items. The default is the in-memory store, for wirings that never hold anything;
    # aws_adapters() wires DynamoDB.
    reviews: ReviewStore = field(default_factory=lambda: _memory_reviews())
    # Org rosters (chalicelib/rosters/). In-memory until the DynamoDB store lands in aws_adapters().
    rosters: RosterStore = field(default_factory=lambda: MemoryRosterStore())
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


def sqs_client():
    return _aws_clients()["sqs"]


@lru_cache(maxsize=1)
def _ssm_client():
    import boto3  # once per process, and only where secrets come from SSM
    return boto3.client("ssm", region_name=settings.REGION)


def secret_adapters(config: settings.SecretsConfig | None = None,
                    clock: Callable[[], float] = time.monotonic) -> dict:
    """webhook_secrets and tokens from the environment or SSM (KARMAYOGI_SECRETS_SOURCE; chalicelib/secrets.py)."""
    from chalicelib import secrets
    from chalicelib.logs import logger
    config = config or settings.secrets_config()
    if config.source == "env":  # cheap to read: every request sees the environment as it is now
        keys = KeySet(settings.jwks, clock=clock)
    else:  # at most one read per TTL, whatever comes in (unknown kids included)
        keys = KeySet(secrets.jwks_source(config, _ssm_client, clock, logger), ttl_seconds=config.ttl_seconds,
                      min_reload_seconds=config.ttl_seconds, clock=clock)
    return {"webhook_secrets": secrets.webhook_secrets_source(config, _ssm_client, clock, logger),
            "tokens": TokenVerifier(keys, settings.JWT_ISSUER, settings.JWT_AUDIENCE, settings.JWT_LEEWAY_SECONDS)}


def aws_adapters(secrets_config: settings.SecretsConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Adapters:
    from chalicelib.queues import SqsStreamQueue
    from chalicelib.storage.boards import DynamoBoardStore
    from chalicelib.storage.dynamodb import DynamoEventStore, DynamoLearnerRepository, DynamoOrgRepository
    from chalicelib.storage.reviews import DynamoReviewStore
    return Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                    queue=SqsStreamQueue(_aws_clients()["sqs"], settings.SCORING_QUEUE),
                    boards=DynamoBoardStore(board_settings()), reviews=DynamoReviewStore(),
                    **secret_adapters(secrets_config, clock))


def _memory_reviews() -> ReviewStore:
    from chalicelib.storage.reviews import MemoryReviewStore
    return MemoryReviewStore()


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
