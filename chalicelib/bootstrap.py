"""The one place adapters are chosen and wired. Use cases receive an Adapters; tests pass in-memory ones."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Optional

from chalicelib import settings
from chalicelib.rules.config import Badge, RuleBook, Rules, default_book
from chalicelib.credentials.config import CredentialConfig, default_config as credential_config
from chalicelib.credentials.achievements import CampaignAwards
from chalicelib.credentials.keys import IssuerKeys
from chalicelib.identity.oidc import OidcProvider, bearer_verifier, provider_from_settings
from chalicelib.identity.tokens import KeySet, TokenVerifier
from chalicelib.leaderboards.settings import board_settings
from chalicelib.facts import FactFeed, FactHandler
from chalicelib.queues import JsonQueue, MemoryQueue
from chalicelib.rosters.employees import MemoryRosterStore, RosterStore
from chalicelib.campaigns.config import campaign_config
from chalicelib.scoring.pipeline import Pipeline, Projection
from chalicelib.campaigns.store import CampaignStore
from chalicelib.leaderboards.store import BoardStore
from chalicelib.directory.store import Directory
from chalicelib.credentials.store import (CredentialStore, DomainEvents, MemoryCredentialStore,
                                            MemoryDomainEvents)
from chalicelib.review.ports import ReviewStore
from chalicelib.storage.ports import EventStore, LearnerRepository, OrgRepository, StreamQueue

if TYPE_CHECKING:  # the notification adapters are imported when wired (memory_notifications, aws_notifications)
    from chalicelib.counters import Counters
    from chalicelib.notifications.limits import SuppressionList
    from chalicelib.notifications.nudge_store import NudgeSchedule
    from chalicelib.notifications.policy import Config as NotificationConfig
    from chalicelib.notifications.sending import EmailSender, NotificationQueue, SmsSender
    from chalicelib.notifications.store import NotificationStore
    from chalicelib.xapi.store import StatementStore


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
    # Org rosters (chalicelib/rosters/); aws_adapters() wires DynamoDB (rosters/store.py).
    rosters: RosterStore = field(default_factory=lambda: MemoryRosterStore())
    # Karmayogi Saptah campaigns (chalicelib/campaigns/). In-memory default; aws_adapters() wires DynamoDB.
    campaigns: CampaignStore = field(default_factory=lambda: _memory_campaigns())
    # Notifications (chalicelib/notifications/): outbox, providers, suppression list, nudge schedule. In-memory by
    # default; aws_adapters() wires DynamoDB, SQS, SES and SNS.
    notifications: "NotificationAdapters" = field(default_factory=lambda: memory_notifications())
    # The rule book (rules/config.py RuleBook: dated versions, each event scored by the one in force when it
    # happened); it reads as the version in force now (`rules.timezone`...). A single `Rules` still works.
    rules: "Rules | RuleBook" = field(default_factory=default_book)
    catalogue: tuple[Badge, ...] = field(default_factory=lambda: default_book().current().catalogue)
    limits: settings.Limits = field(default_factory=settings.Limits)
    webhook_secrets: Callable[[], list[str]] = settings.webhook_secrets
    # The platform's OpenID provider (pages sign-in, identity/oidc.py), None where not configured; the keys of
    # our own page session cookie (pages/session.py). The environment here; SSM in AWS (secret_adapters).
    oidc: Optional[OidcProvider] = field(default_factory=lambda: provider_from_settings(settings.oidc_client_secret))
    session_secrets: Callable[[], list[str]] = settings.session_secrets
    tokens: TokenVerifier = field(default=None)  # type: ignore[assignment]  # set in __post_init__ when not given
    # Open Badges credentials (chalicelib/credentials/): issued credentials and revocations, the domain events
    # campaign awards are read from (campaign_awards None: that default source), the signing keys, settings.
    credentials: CredentialStore = field(default_factory=MemoryCredentialStore)
    domain_events: DomainEvents = field(default_factory=MemoryDomainEvents)
    campaign_awards: Optional[CampaignAwards] = None
    issuer_keys: IssuerKeys = field(default_factory=lambda: IssuerKeys(settings.issuer_keys))
    credential_config: CredentialConfig = field(default_factory=credential_config)
    # Keys of one-click unsubscribe links (signing one first): the environment locally, SSM in AWS.
    unsubscribe_secrets: Callable[[], list[str]] = field(default_factory=lambda: _env_unsubscribe_secrets)
    # Who receives each org's weekly admin summary: org id -> admin learner ids (environment locally, SSM in AWS).
    admin_summary_recipients: Callable[[], dict] = field(default_factory=lambda: dict)
    # The weekly audit's segments (chalicelib/audit/): SQS in AWS.
    audit_queue: JsonQueue = field(default_factory=lambda: MemoryQueue())
    # Per-process caches, by name, that live as long as this wiring: "org" (orgtree.py: the org tree),
    # "campaign" (campaigns/scope.py). A use case takes its own with caches.setdefault(name, {}). Not an init
    # argument: every Adapters (dataclasses.replace included) starts with empty caches.
    caches: dict[str, dict] = field(default_factory=dict, init=False, repr=False, compare=False)
    # The platform's course catalogue, user directory and parked activities (chalicelib/directory/), read by the
    # intake of outside events (chalicelib/platform/intake.py). In-memory default; aws_adapters() wires DynamoDB.
    directory: Directory = field(default_factory=Directory)
    # xAPI (chalicelib/xapi/): the clients' Basic credentials (environment here, SSM in AWS: secret_adapters) and
    # the statements received. In-memory default; aws_adapters() wires DynamoDB.
    xapi_clients: Callable[[], list] = field(default_factory=lambda: _env_xapi_clients)
    xapi_statements: "StatementStore" = field(default_factory=lambda: _memory_xapi_statements())
    # Facts not yet handled (chalicelib/facts.py): the facts table's pending index. None: a wiring without one.
    facts: Optional[FactFeed] = None
    # Scoring (chalicelib/scoring/): what it asks of the features, and its projections in order.
    scoring: Pipeline = field(default_factory=lambda: scoring_pipeline())
    # What reacts to each kind of fact, after the save that recorded it.
    fact_handlers: dict[str, FactHandler] = field(default_factory=lambda: fact_handlers())

    def __post_init__(self):
        if self.tokens is None:
            self.tokens = bearer_tokens(KeySet(settings.jwks), self.oidc)


def bearer_tokens(keys: KeySet, oidc: Optional[OidcProvider]) -> TokenVerifier:
    """Our own issuer's tokens (KARMAYOGI_JWT_*), and the OpenID provider's access tokens for this API."""
    others = (bearer_verifier(oidc, settings.OIDC_API_AUDIENCE),) if oidc is not None else ()
    return TokenVerifier(keys, settings.JWT_ISSUER, settings.JWT_AUDIENCE, settings.JWT_LEEWAY_SECONDS,
                         others=others)


def scoring_pipeline() -> Pipeline:
    """The scoring pipeline's parts: campaign multipliers and board scopes in, then the projections, in this order
    (each written before the learner is saved; see scoring/pipeline.py)."""
    from chalicelib.campaigns.progress import boosts_for, needs_whole_stream, project_progress
    from chalicelib.leaderboards.projection import project_boards, scopes_of
    from chalicelib.learners.erasure import project_erasure
    from chalicelib.notifications.schedule import project_nudges
    from chalicelib.review.service import project_holds
    from datetime import timedelta
    from chalicelib.rules.checkpoint import CheckpointSettings
    checkpoints = CheckpointSettings(settings.CHECKPOINT_EVERY, timedelta(seconds=settings.ARRIVAL_MARGIN_SECONDS))
    return Pipeline(boosts=boosts_for, scopes=scopes_of, checkpoints=checkpoints, whole_stream=needs_whole_stream,
                    projections=(
        Projection("review list", project_holds, on_replay=True),
        Projection("erased-profile scrub", project_erasure, on_replay=True),
        Projection("campaign progress", project_progress, on_replay=True),
        Projection("nudge schedule", project_nudges),
        Projection("boards", project_boards),
    ))


def fact_handlers() -> dict[str, FactHandler]:
    """One handler per kind of fact (chalicelib/facts.py), run every minute and, if immediate, at publish."""
    from chalicelib import facts
    from chalicelib.credentials.service import revoke_on_rejection
    from chalicelib.rescore import rescore_moved_orgs
    from chalicelib.notifications import campaigns as campaign_notices, digest, rescored
    return {facts.BADGE_AWARDED: digest.HANDLER,
            facts.CAMPAIGN_RESULT: campaign_notices.RESULTS_HANDLER,
            facts.REVIEW_REJECTED: FactHandler(revoke_on_rejection, immediate=True),
            facts.ORG_MOVED: FactHandler(rescore_moved_orgs, immediate=True),
            facts.RULES_RESCORED: rescored.HANDLER}


@dataclass
class NotificationAdapters:
    store: NotificationStore  # the outbox/delivery records
    suppressions: SuppressionList
    counters: Counters
    schedule: NudgeSchedule
    queue: NotificationQueue
    email: EmailSender
    sms: SmsSender
    config: Optional[NotificationConfig] = None  # None: the defaults (notifications/config.toml)
    sleep: Callable[[float], None] = time.sleep  # between in-process retries (tests pass a no-op)

    def settings(self) -> NotificationConfig:
        from chalicelib.notifications.policy import default_config
        return self.config or default_config()


def memory_notifications() -> NotificationAdapters:
    from chalicelib.notifications.sending import MemoryEmailSender, MemoryNotificationQueue, MemorySmsSender
    from chalicelib.counters import MemoryCounters
    from chalicelib.notifications.limits import MemorySuppressionList
    from chalicelib.notifications.nudge_store import MemoryNudgeSchedule
    from chalicelib.notifications.store import MemoryNotificationStore
    return NotificationAdapters(MemoryNotificationStore(), MemorySuppressionList(), MemoryCounters(),
                                MemoryNudgeSchedule(), MemoryNotificationQueue(), MemoryEmailSender(),
                                MemorySmsSender())


def aws_notifications() -> NotificationAdapters:
    from chalicelib.notifications.sending import SesEmailSender, SnsSmsSender, SqsNotificationQueue
    from chalicelib.counters import DynamoCounters
    from chalicelib.notifications.limits import DynamoSuppressionList
    from chalicelib.notifications.nudge_store import DynamoNudgeSchedule
    from chalicelib.notifications.store import DynamoNotificationStore
    clients = _aws_clients()
    return NotificationAdapters(
        DynamoNotificationStore(), DynamoSuppressionList(), DynamoCounters(), DynamoNudgeSchedule(),
        SqsNotificationQueue(clients["sqs"], settings.NOTIFICATIONS_QUEUE),
        SesEmailSender(clients["ses"], settings.SES_SENDER, settings.SES_CONFIGURATION_SET),
        SnsSmsSender(clients["sns"]))


@lru_cache(maxsize=1)
def _aws_clients():
    import boto3  # created once per process: a client costs 80-200 ms
    return {name: boto3.client(name, region_name=settings.REGION) for name in ("sqs", "ses", "sns")}


def sqs_client():
    return _aws_clients()["sqs"]


@lru_cache(maxsize=1)
def _ssm_client():
    import boto3  # once per process, and only where secrets come from SSM
    return boto3.client("ssm", region_name=settings.REGION)


@lru_cache(maxsize=1)
def s3_client():
    import boto3  # once per process, and only where roster uploads are read
    return boto3.client("s3", region_name=settings.REGION)


def secret_adapters(config: settings.SecretsConfig | None = None,
                    clock: Callable[[], float] = time.monotonic) -> dict:
    """webhook_secrets and tokens from the environment or SSM (KARMAYOGI_SECRETS_SOURCE; chalicelib/parameters.py)."""
    from chalicelib import parameters
    from chalicelib.logs import logger
    config = config or settings.secrets_config()
    if config.source == "env":  # cheap to read: every request sees the environment as it is now
        keys = KeySet(settings.jwks, clock=clock)
    else:  # at most one read per TTL, whatever comes in (unknown kids included)
        keys = KeySet(parameters.jwks_source(config, _ssm_client, clock, logger), ttl_seconds=config.ttl_seconds,
                      min_reload_seconds=config.ttl_seconds, clock=clock)
    oidc = provider_from_settings(parameters.oidc_client_secret_source(config, _ssm_client, clock, logger))
    return {"webhook_secrets": parameters.webhook_secrets_source(config, _ssm_client, clock, logger),
            "tokens": bearer_tokens(keys, oidc), "oidc": oidc,
            "session_secrets": parameters.session_secrets_source(config, _ssm_client, clock, logger),
            "issuer_keys": IssuerKeys(parameters.issuer_keys_source(config, _ssm_client, clock, logger)),
            "unsubscribe_secrets": parameters.unsubscribe_secrets_source(config, _ssm_client, clock, logger),
            "admin_summary_recipients": parameters.admin_summary_recipients_source(config, _ssm_client, clock, logger),
            "xapi_clients": parameters.xapi_clients_source(config, _ssm_client, clock, logger)}


def aws_adapters(secrets_config: settings.SecretsConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Adapters:
    from chalicelib.queues import SqsQueue, SqsStreamQueue
    from chalicelib.leaderboards.store import DynamoBoardStore
    from chalicelib.storage.dynamodb import (DynamoEventStore, DynamoFactFeed, DynamoLearnerRepository,
                                             DynamoOrgRepository)
    from chalicelib.review.store import DynamoReviewStore
    from chalicelib.credentials.store import DynamoCredentialStore, DynamoDomainEvents
    from chalicelib.rosters.store import DynamoRosterStore
    from chalicelib.campaigns.store import DynamoCampaignStore
    from chalicelib.xapi.store import DynamoStatementStore
    from chalicelib.directory.dynamodb import DynamoCourseCatalogue, DynamoParkedStore, DynamoUserDirectory
    return Adapters(events=DynamoEventStore(), learners=DynamoLearnerRepository(), orgs=DynamoOrgRepository(),
                    queue=SqsStreamQueue(_aws_clients()["sqs"], settings.SCORING_QUEUE),
                    boards=DynamoBoardStore(board_settings()), reviews=DynamoReviewStore(),
                    credentials=DynamoCredentialStore(), domain_events=DynamoDomainEvents(),
                    rosters=DynamoRosterStore(),
                    campaigns=DynamoCampaignStore(campaign_config().operation["progress_shards"]),
                    notifications=aws_notifications(), facts=DynamoFactFeed(),
                    audit_queue=SqsQueue(_aws_clients()["sqs"], settings.AUDIT_QUEUE),
                    xapi_statements=DynamoStatementStore(),
                    directory=Directory(DynamoCourseCatalogue(), DynamoUserDirectory(), DynamoParkedStore()),
                    **secret_adapters(secrets_config, clock))


def _env_unsubscribe_secrets() -> list[str]:
    from chalicelib.notifications.unsubscribe import secrets
    return secrets()


def _env_xapi_clients() -> list:
    from chalicelib.xapi.clients import clients_from
    return clients_from(settings.xapi_clients())


def _memory_xapi_statements() -> "StatementStore":
    from chalicelib.xapi.store import MemoryStatementStore
    return MemoryStatementStore()


def _memory_campaigns() -> CampaignStore:
    from chalicelib.campaigns.store import MemoryCampaignStore
    return MemoryCampaignStore(campaign_config().operation["progress_shards"])


def _memory_reviews() -> ReviewStore:
    from chalicelib.review.store import MemoryReviewStore
    return MemoryReviewStore()


def memory_adapters(**overrides) -> Adapters:
    from chalicelib.leaderboards.store import MemoryBoardStore
    from chalicelib.storage.memory import (MemoryEventStore, MemoryFactFeed, MemoryLearnerRepository,
                                           MemoryOrgRepository, MemoryStreamQueue)
    parts: dict = dict(events=MemoryEventStore(), learners=MemoryLearnerRepository(), orgs=MemoryOrgRepository(),
                 queue=MemoryStreamQueue(), boards=MemoryBoardStore(board_settings()))
    parts.update(overrides)
    # One home for domain events, as the domain-events table is in DynamoDB: what scoring saves, what closing a
    # campaign awards, and what credentials and notifications read.
    facts = getattr(parts["learners"], "facts", None)
    parts.setdefault("domain_events", MemoryDomainEvents(facts))
    parts.setdefault("notifications", memory_notifications())
    if facts is not None:
        parts.setdefault("facts", MemoryFactFeed(parts["learners"]))
    if "campaigns" not in parts:
        parts["campaigns"] = _memory_campaigns()
        if facts is not None:
            parts["campaigns"].facts = facts
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
