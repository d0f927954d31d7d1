"""Deployment settings from the environment (set by .chalice/config.json per stage, or by the local stack).

Rule numbers live in rules/defaults.toml; this file is only about where things are and request limits.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def current_stage() -> str:
    """The stage (dev, prod, local...): as the environment says now (STAGE is the value at import)."""
    return _env("KARMAYOGI_STAGE", "dev")


STAGE = current_stage()
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-south-1"
TABLE_PREFIX = _env("KARMAYOGI_TABLE_PREFIX", f"karmayogi-{STAGE}-")
SCORING_QUEUE = _env("KARMAYOGI_SCORING_QUEUE", f"karmayogi-{STAGE}-scoring")
# Roster CSVs uploaded to rosters/<org_id>/<name>.csv are imported; the report goes to reports/<org_id>/<name>.json.
ROSTER_BUCKET = _env("KARMAYOGI_ROSTER_BUCKET", f"karmayogi-{STAGE}-rosters")
ROSTER_PREFIX = "rosters/"

# Notifications (chalicelib/notifications/): the delivery queue (with <name>-dlq), the SNS topic SES publishes
# bounces and complaints to, who mail comes from, and where unsubscribe links point.
NOTIFICATIONS_QUEUE = _env("KARMAYOGI_NOTIFICATIONS_QUEUE", f"karmayogi-{STAGE}-notifications")
SES_EVENTS_TOPIC = _env("KARMAYOGI_SES_EVENTS_TOPIC", f"karmayogi-{STAGE}-ses-events")
SES_SENDER = _env("KARMAYOGI_SES_SENDER", "iGOT Karmayogi <no-reply@igotkarmayogi.gov.in>")
SES_CONFIGURATION_SET = os.environ.get("KARMAYOGI_SES_CONFIGURATION_SET") or None  # routes bounce events
# KARMAYOGI_PUBLIC_BASE_URL is read here only: where links in messages and credential URLs point. Every deployed
# stage sets it (.chalice/config.json), and so do the local stack and the tests.
DEFAULT_PUBLIC_BASE_URL = "https://engage.igotkarmayogi.gov.in"


def public_base_url() -> str:
    """The public API host, as the environment says now."""
    return _env("KARMAYOGI_PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL).rstrip("/")


PUBLIC_BASE_URL = public_base_url()

# The weekly audit (chalicelib/audit/): the schedule sends one message per auditor and scan segment to this queue
# (with <name>-dlq); the segments are as many as keep one segment's learners inside one function run.
AUDIT_QUEUE = _env("KARMAYOGI_AUDIT_QUEUE", f"karmayogi-{STAGE}-audit")
AUDIT_LEARNERS_PER_SEGMENT = int(_env("KARMAYOGI_AUDIT_LEARNERS_PER_SEGMENT", "5000"))
AUDIT_MIN_SEGMENTS = int(_env("KARMAYOGI_AUDIT_MIN_SEGMENTS", "4"))
AUDIT_MAX_SEGMENTS = int(_env("KARMAYOGI_AUDIT_MAX_SEGMENTS", "1000"))

# Scoring from a checkpoint of the fold (chalicelib/rules/checkpoint.py, docs/scoring.md): a new checkpoint every
# this many events folded after the last one, and how long after its received_at stamp an event may still be
# unreadable (in-flight writes, clock skew between the writers): events received within it are checked again.
CHECKPOINT_EVERY = int(_env("KARMAYOGI_CHECKPOINT_EVERY", "50"))
ARRIVAL_MARGIN_SECONDS = int(_env("KARMAYOGI_ARRIVAL_MARGIN_SECONDS", "300"))


def table_name(short: str) -> str:
    return TABLE_PREFIX + short


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = int(_env("KARMAYOGI_MAX_BODY_BYTES", str(1024 * 1024)))
    max_batch_events: int = int(_env("KARMAYOGI_MAX_BATCH_EVENTS", "100"))
    # One stored event must stay far below DynamoDB's 400 KB item limit, extra fields included.
    max_event_bytes: int = int(_env("KARMAYOGI_MAX_EVENT_BYTES", str(32 * 1024)))
    signature_tolerance_seconds: int = int(_env("KARMAYOGI_SIGNATURE_TOLERANCE_SECONDS", "300"))
    future_tolerance_seconds: int = int(_env("KARMAYOGI_FUTURE_TOLERANCE_SECONDS", "300"))
    # occurred_at before this (ISO 8601 with offset) is refused: the platform has no learning that old.
    earliest_occurred_at: str = _env("KARMAYOGI_EARLIEST_OCCURRED_AT", "2020-01-01T00:00:00+00:00")
    # Objects/arrays nested deeper than this in one event (the event itself is level 1) are refused.
    max_event_depth: int = int(_env("KARMAYOGI_MAX_EVENT_DEPTH", "32"))
    max_page_size: int = 100
    # POST /v1/orgs/{org_id}/roster takes small files only (about 1,000 rows); bigger ones go through S3.
    max_roster_body_bytes: int = int(_env("KARMAYOGI_MAX_ROSTER_BODY_BYTES", str(256 * 1024)))


def webhook_secrets() -> list[str]:
    """Every secret currently accepted (several during a rotation). Read on each call: rotation needs no restart."""
    return [s.strip() for s in os.environ.get("KARMAYOGI_WEBHOOK_SECRETS", "").split(",") if s.strip()]


def xapi_clients() -> str:
    """The xAPI clients' HTTP Basic credentials, `client:secret` pairs separated by commas (several secrets per
    client during a rotation; xapi/clients.py). Locally and in tests; SSM in AWS. Read on each call."""
    return os.environ.get("KARMAYOGI_XAPI_CLIENTS", "")


# Bearer tokens: who issues them, for whom, and where their public keys are (a JWKS as JSON, or a URL).
JWT_ISSUER = _env("KARMAYOGI_JWT_ISSUER", "karmayogi-engage-local")
JWT_AUDIENCE = _env("KARMAYOGI_JWT_AUDIENCE", "karmayogi-engage")
JWT_LEEWAY_SECONDS = int(_env("KARMAYOGI_JWT_LEEWAY_SECONDS", "60"))


# Signing in on the pages (docs/sign-in.md): the platform's OpenID Connect provider (Keycloak), our client there,
# where its tokens carry roles and the org, and how long our own page session lasts. No issuer: no sign-in (the
# pages answer 401 pages). The client secret and the session secrets are secrets: SSM in AWS (SecretsConfig).
OIDC_ISSUER = os.environ.get("KARMAYOGI_OIDC_ISSUER") or None
OIDC_CLIENT_ID = _env("KARMAYOGI_OIDC_CLIENT_ID", "karmayogi-engage")
OIDC_SCOPES = _env("KARMAYOGI_OIDC_SCOPES", "openid profile")
# Comma-separated dotted paths to lists of role names; {client_id} is our client id.
OIDC_ROLE_CLAIMS = tuple(p.strip() for p in _env(
    "KARMAYOGI_OIDC_ROLE_CLAIMS", "roles,realm_access.roles,resource_access.{client_id}.roles").split(",")
    if p.strip())
OIDC_ORG_CLAIM = _env("KARMAYOGI_OIDC_ORG_CLAIM", "org_id")
# provider role=our role, comma-separated, on top of our own names (learner, mdo_admin, national_admin)
OIDC_ROLE_MAP = os.environ.get("KARMAYOGI_OIDC_ROLE_MAP", "")
# Bearer tokens the provider issues to other clients (the mobile app) for this API: their audience.
OIDC_API_AUDIENCE = _env("KARMAYOGI_OIDC_API_AUDIENCE", "karmayogi-engage")
SESSION_SECONDS = int(_env("KARMAYOGI_SESSION_SECONDS", "3600"))


def oidc_role_map() -> dict[str, str]:
    from chalicelib.identity.tokens import ROLES
    mapping = {r: r for r in ROLES}
    for pair in OIDC_ROLE_MAP.split(","):
        theirs, _, ours = pair.partition("=")
        if theirs.strip() and ours.strip() in ROLES:
            mapping[theirs.strip()] = ours.strip()
    return mapping


def oidc_client_secret() -> Optional[str]:
    """Locally and in tests (KARMAYOGI_SECRETS_SOURCE=env); SSM in AWS."""
    return os.environ.get("KARMAYOGI_OIDC_CLIENT_SECRET") or None


def session_secrets() -> list[str]:
    """Keys of the page session cookie, comma-separated, the first signing (env source; SSM in AWS)."""
    return [s.strip() for s in os.environ.get("KARMAYOGI_SESSION_SECRETS", "").split(",") if s.strip()]


def jwks() -> dict:
    """The current public signing keys. Read on every reload, so a rotated key needs no restart."""
    from chalicelib.identity.tokens import jwks_from_json, jwks_from_url
    url = os.environ.get("KARMAYOGI_JWKS_URL")
    return jwks_from_url(url) if url else jwks_from_json(os.environ.get("KARMAYOGI_JWKS"))


# Open Badges credentials (chalicelib/credentials/): the URL this service is reached at from outside (credential,
# issuer and image URLs are built on it), and the issuer's signing keys.
def issuer_keys() -> Optional[str]:
    """The credential signing keys as a JWKS with private parts (KARMAYOGI_ISSUER_KEYS; local stack and tests).
    Read on every use: a rotated key needs no restart."""
    return os.environ.get("KARMAYOGI_ISSUER_KEYS")


# Where the functions above get their values in AWS: chalicelib/parameters.py. Read when the adapters are
# wired (bootstrap.py), once per process; .chalice/config.json sets them per stage.
SECRETS_SOURCES = ("env", "ssm")


@dataclass(frozen=True)
class SecretsConfig:
    source: str  # env: KARMAYOGI_WEBHOOK_SECRETS / KARMAYOGI_JWKS (local, tests); ssm: Parameter Store (AWS)
    webhook_secrets_parameter: str  # SecureString, comma-separated secrets
    jwks_parameter: str  # String (public keys), a JWKS document; not read when KARMAYOGI_JWKS_URL is set
    jwks_url: Optional[str]
    ttl_seconds: int  # how long a value read from SSM is used: a rotation takes effect within this time
    # SecureString, a JWKS with the private credential signing keys (chalicelib/credentials/keys.py)
    issuer_keys_parameter: str = "/karmayogi/dev/issuer-keys"
    # SecureString, comma-separated: the keys of one-click unsubscribe links (notifications/unsubscribe.py)
    unsubscribe_secrets_parameter: str = "/karmayogi/dev/unsubscribe-secrets"
    # String, JSON {"<org id>": ["<admin learner id>", ...]}: who receives each org's weekly summary (not a
    # secret, but kept beside them so that operations change it without a deploy; locally
    # KARMAYOGI_ADMIN_SUMMARY_RECIPIENTS)
    admin_summary_recipients_parameter: str = "/karmayogi/dev/admin-summary-recipients"
    # SecureString: our client's secret at the OpenID provider (docs/sign-in.md; locally KARMAYOGI_OIDC_CLIENT_SECRET)
    oidc_client_secret_parameter: str = "/karmayogi/dev/oidc-client-secret"
    # SecureString, comma-separated: keys of the page session cookie, the first signing (locally
    # KARMAYOGI_SESSION_SECRETS)
    session_secrets_parameter: str = "/karmayogi/dev/session-secrets"
    # SecureString, comma-separated client:secret pairs: the xAPI clients' Basic credentials (xapi/clients.py;
    # locally KARMAYOGI_XAPI_CLIENTS)
    xapi_clients_parameter: str = "/karmayogi/dev/xapi-clients"


def secrets_config() -> SecretsConfig:
    source = _env("KARMAYOGI_SECRETS_SOURCE", "env")
    if source not in SECRETS_SOURCES:
        raise ValueError(f"KARMAYOGI_SECRETS_SOURCE must be one of {SECRETS_SOURCES}, got {source!r}")
    stage = current_stage()
    return SecretsConfig(
        source=source,
        webhook_secrets_parameter=_env("KARMAYOGI_WEBHOOK_SECRETS_PARAMETER", f"/karmayogi/{stage}/webhook-secrets"),
        jwks_parameter=_env("KARMAYOGI_JWKS_PARAMETER", f"/karmayogi/{stage}/jwks"),
        jwks_url=os.environ.get("KARMAYOGI_JWKS_URL") or None,
        ttl_seconds=int(_env("KARMAYOGI_SECRETS_TTL_SECONDS", "60")),
        issuer_keys_parameter=_env("KARMAYOGI_ISSUER_KEYS_PARAMETER", f"/karmayogi/{stage}/issuer-keys"),
        unsubscribe_secrets_parameter=_env("KARMAYOGI_UNSUBSCRIBE_SECRETS_PARAMETER",
                                           f"/karmayogi/{stage}/unsubscribe-secrets"),
        admin_summary_recipients_parameter=_env("KARMAYOGI_ADMIN_SUMMARY_RECIPIENTS_PARAMETER",
                                                f"/karmayogi/{stage}/admin-summary-recipients"),
        oidc_client_secret_parameter=_env("KARMAYOGI_OIDC_CLIENT_SECRET_PARAMETER",
                                          f"/karmayogi/{stage}/oidc-client-secret"),
        session_secrets_parameter=_env("KARMAYOGI_SESSION_SECRETS_PARAMETER", f"/karmayogi/{stage}/session-secrets"),
        xapi_clients_parameter=_env("KARMAYOGI_XAPI_CLIENTS_PARAMETER", f"/karmayogi/{stage}/xapi-clients"))
