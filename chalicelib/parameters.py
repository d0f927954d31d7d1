"""Webhook secrets and token signing keys: where they come from, and how often we look (an adapter).

* `env` (local stack, tests): KARMAYOGI_WEBHOOK_SECRETS (comma-separated) and KARMAYOGI_JWKS (or
  KARMAYOGI_JWKS_URL), read on every use (settings.webhook_secrets / settings.jwks).
* `ssm` (AWS, KARMAYOGI_SECRETS_SOURCE=ssm): SSM Parameter Store, so that no secret sits in a Lambda
  environment variable or a CloudFormation parameter, and a rotation needs no redeploy:
    /karmayogi/<stage>/webhook-secrets   SecureString, comma-separated (old and new during a rotation)
    /karmayogi/<stage>/jwks              String, a JWKS document with the public keys (or KARMAYOGI_JWKS_URL)
    /karmayogi/<stage>/issuer-keys       SecureString, a JWKS with the private credential signing keys
                                         (chalicelib/credentials/keys.py; locally KARMAYOGI_ISSUER_KEYS)
    /karmayogi/<stage>/unsubscribe-secrets  SecureString, comma-separated keys of one-click unsubscribe links
                                         (notifications/unsubscribe.py; locally KARMAYOGI_UNSUBSCRIBE_SECRET)
    /karmayogi/<stage>/xapi-clients      SecureString, comma-separated client:secret pairs: the xAPI clients'
                                         Basic credentials (xapi/clients.py; locally KARMAYOGI_XAPI_CLIENTS)
    /karmayogi/<stage>/admin-summary-recipients  String, JSON org id -> admin learner ids of the weekly summary
                                         (not secret; locally KARMAYOGI_ADMIN_SUMMARY_RECIPIENTS)
  The platform team creates and rotates both (infra/resources.yaml says how). A value is read at most once
  per TTL (60 s) per process, whatever the traffic: a flood of badly signed requests or tokens with unknown
  key ids costs no extra reads. So a rotation takes effect within a minute.

Why Parameter Store rather than Secrets Manager: standard parameters cost nothing (Secrets Manager charges per
secret and per 10,000 calls); Secrets Manager's managed rotation does not fit a secret shared with another
party (the platform must switch to the new secret in step with us, which is a manual, two-sided procedure
anyway); the JWKS, which is public, sits in the same store behind the same API and IAM statement; and a
SecureString value never passes through CloudFormation (templates, parameters, stack events).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Generic, Optional, TypeVar

from chalicelib.identity.tokens import jwks_from_json, jwks_from_url
from chalicelib.settings import SecretsConfig

T = TypeVar("T")
Clock = Callable[[], float]


class SecretUnavailable(RuntimeError):
    """The value could not be read and there is no earlier one to use: the request fails (5xx, retried)."""


def split_secrets(text: Optional[str]) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


class SsmParameter:
    """One parameter's current value (SecureStrings decrypted; String parameters come back as they are).
    `client` makes (once per process) or returns the SSM client, on first read: a function that never reads
    secrets (the queue consumer) never pays for one. `optional`: a parameter not created yet reads as None
    (any other failure is still raised, and retried)."""

    def __init__(self, client: Callable[[], Any], name: str, optional: bool = False):
        self.client, self.name, self.optional = client, name, optional

    def __call__(self) -> Optional[str]:
        try:
            return self.client().get_parameter(Name=self.name, WithDecryption=True)["Parameter"]["Value"]
        except Exception as exc:  # noqa: BLE001 (only "not found" is an answer; anything else is raised)
            if self.optional and getattr(exc, "response", {}).get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise


class Cached(Generic[T]):
    """`load()`'s value, read again only after `ttl_seconds` (by `clock`).

    A failed read is retried after `retry_seconds` (at most the TTL), never sooner, so an outage does not
    turn into a read per request. Meanwhile the last good value stays in use; with none yet, every call
    raises SecretUnavailable.
    """

    def __init__(self, load: Callable[[], T], ttl_seconds: float, clock: Clock = time.monotonic,
                 retry_seconds: float = 5.0, name: str = "value", log=None):
        self._load, self._ttl, self._clock, self._name = load, ttl_seconds, clock, name
        self._retry = min(retry_seconds, ttl_seconds)
        self._log = log
        self._value: Optional[T] = None
        self._has_value = False
        self._error: Optional[BaseException] = None
        self._next_read = float("-inf")

    def __call__(self) -> T:
        now = self._clock()
        if now >= self._next_read:
            self._read(now)
        if not self._has_value:
            raise SecretUnavailable(f"{self._name} could not be read") from self._error
        return self._value  # type: ignore[return-value]

    def _read(self, now: float) -> None:
        try:
            value = self._load()
        except Exception as exc:  # noqa: BLE001 (any failure: throttling, access denied, not found, network)
            self._error, self._next_read = exc, now + self._retry
            if self._log is not None:  # the parameter's name and the error's class only, never a value
                self._log.warning("could not read %s (%s); %s", self._name, type(exc).__name__,
                                  "keeping the last value" if self._has_value else "no value yet")
            return
        self._value, self._has_value, self._error = value, True, None
        self._next_read = now + self._ttl


def _parameter_source(config: SecretsConfig, from_env: Callable, parameter_name: str, parse: Callable,
                      ssm_client: Callable[[], object], clock: Clock, log, optional: bool = False) -> Callable:
    """The environment's reader locally; in AWS the parameter, parsed, read at most once per TTL (Cached)."""
    if config.source == "env":
        return from_env
    parameter = SsmParameter(ssm_client, parameter_name, optional)
    return Cached(lambda: parse(parameter()), config.ttl_seconds, clock, name=f"SSM parameter {parameter_name}",
                  log=log)


def webhook_secrets_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                           log=None) -> Callable[[], list[str]]:
    """What Adapters.webhook_secrets calls once per webhook request."""
    from chalicelib.settings import webhook_secrets
    return _parameter_source(config, webhook_secrets, config.webhook_secrets_parameter, split_secrets, ssm_client,
                             clock, log)


def jwks_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                log=None) -> Callable[[], dict]:
    """The loader of the token verifier's KeySet. The KeySet decides when to reload (bootstrap gives it the same
    TTL); the Cached wrapper adds the back-off after a failed read and keeps the last good JWKS meanwhile."""
    if config.source == "env":
        from chalicelib.settings import jwks
        return jwks
    if config.jwks_url:
        url = config.jwks_url
        return Cached(lambda: jwks_from_url(url), config.ttl_seconds, clock, name=f"JWKS {url}", log=log)
    parameter = SsmParameter(ssm_client, config.jwks_parameter)
    return Cached(lambda: jwks_from_json(parameter()), config.ttl_seconds, clock,
                  name=f"SSM parameter {config.jwks_parameter}", log=log)


def issuer_keys_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                       log=None) -> Callable[[], Optional[str]]:
    """The loader of the credential signing keys (credentials/keys.py IssuerKeys): the JWKS text, private parts
    included. Read at most once per TTL from SSM, so a rotation takes effect within a minute."""
    from chalicelib.settings import issuer_keys
    return _parameter_source(config, issuer_keys, config.issuer_keys_parameter, lambda text: text, ssm_client,
                             clock, log)


def unsubscribe_secrets_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                               log=None) -> Callable[[], list[str]]:
    """The signing (first) and verifying secrets of unsubscribe links: Adapters.unsubscribe_secrets."""
    from chalicelib.notifications.unsubscribe import secrets
    return _parameter_source(config, secrets, config.unsubscribe_secrets_parameter, split_secrets, ssm_client, clock,
                             log)


def admin_summary_recipients_source(config: SecretsConfig, ssm_client: Callable[[], object],
                                    clock: Clock = time.monotonic, log=None) -> Callable[[], dict]:
    """org id -> learner ids of the admins who receive its weekly summary (notifications/campaigns.py).
    A parameter not created yet means nobody (optional): the summary is opt-in per org."""
    import os
    from chalicelib.notifications.campaigns import recipients_from
    return _parameter_source(config, lambda: recipients_from(os.environ.get("KARMAYOGI_ADMIN_SUMMARY_RECIPIENTS")),
                             config.admin_summary_recipients_parameter, recipients_from, ssm_client, clock, log,
                             optional=True)


def oidc_client_secret_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                              log=None) -> Callable[[], Optional[str]]:
    """Our client's secret at the OpenID provider (pages sign-in, docs/sign-in.md), read when a code is redeemed."""
    from chalicelib.settings import oidc_client_secret
    return _parameter_source(config, oidc_client_secret, config.oidc_client_secret_parameter,
                             lambda text: text.strip() or None, ssm_client, clock, log)


def session_secrets_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                           log=None) -> Callable[[], list[str]]:
    """Keys of the page session cookie (pages/session.py), the first signing: Adapters.session_secrets."""
    from chalicelib.settings import session_secrets
    return _parameter_source(config, session_secrets, config.session_secrets_parameter, split_secrets, ssm_client,
                             clock, log)


def xapi_clients_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                        log=None) -> Callable[[], list]:
    """The xAPI clients' (client, secret) pairs (xapi/clients.py): Adapters.xapi_clients, once per request. A
    parameter not created yet means no client (optional): every xAPI request is then refused with 401."""
    from chalicelib.settings import xapi_clients
    from chalicelib.xapi.clients import clients_from
    return _parameter_source(config, lambda: clients_from(xapi_clients()), config.xapi_clients_parameter,
                             clients_from, ssm_client, clock, log, optional=True)
