"""Webhook secrets and token signing keys: where they come from, and how often we look (an adapter).

* `env` (local stack, tests): KARMAYOGI_WEBHOOK_SECRETS (comma-separated) and KARMAYOGI_JWKS (or
  KARMAYOGI_JWKS_URL), read on every use (settings.webhook_secrets / settings.jwks).
* `ssm` (AWS, KARMAYOGI_SECRETS_SOURCE=ssm): SSM Parameter Store, so that no secret sits in a Lambda
  environment variable or a CloudFormation parameter, and a rotation needs no redeploy:
    /karmayogi/<stage>/webhook-secrets   SecureString, comma-separated (old and new during a rotation)
    /karmayogi/<stage>/jwks              String, a JWKS document with the public keys (or KARMAYOGI_JWKS_URL)
    /karmayogi/<stage>/issuer-keys       SecureString, a JWKS with the private credential signing keys
                                         (chalicelib/credentials/keys.py; locally KARMAYOGI_ISSUER_KEYS)
    /karmayogi/<stage>/unsubscribe-secrets  SecureString, comma-separated: the unsubscribe links' HMAC secrets
                                         (chalicelib/notifications/unsubscribe.py; locally
                                         KARMAYOGI_UNSUBSCRIBE_SECRET)
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
from typing import Callable, Generic, Optional, TypeVar

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
    secrets (the queue consumer) never pays for one."""

    def __init__(self, client: Callable[[], object], name: str):
        self.client, self.name = client, name

    def __call__(self) -> str:
        return self.client().get_parameter(Name=self.name, WithDecryption=True)["Parameter"]["Value"]


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


def webhook_secrets_source(config: SecretsConfig, ssm_client: Callable[[], object], clock: Clock = time.monotonic,
                           log=None) -> Callable[[], list[str]]:
    """What Adapters.webhook_secrets calls once per webhook request."""
    if config.source == "env":
        from chalicelib.settings import webhook_secrets
        return webhook_secrets
    parameter = SsmParameter(ssm_client, config.webhook_secrets_parameter)
    return Cached(lambda: split_secrets(parameter()), config.ttl_seconds, clock,
                  name=f"SSM parameter {config.webhook_secrets_parameter}", log=log)


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
    if config.source == "env":
        from chalicelib.settings import issuer_keys
        return issuer_keys
    parameter = SsmParameter(ssm_client, config.issuer_keys_parameter)
    return Cached(parameter, config.ttl_seconds, clock, name=f"SSM parameter {config.issuer_keys_parameter}",
                  log=log)


def unsubscribe_secrets_source(config: SecretsConfig, ssm_client: Callable[[], object],
                               clock: Clock = time.monotonic, log=None) -> Callable[[], list[str]]:
    """The unsubscribe links' secrets (signing one first): the environment locally (unsubscribe.secrets), SSM in
    AWS, read at most once per TTL, so that a rotation takes effect within a minute."""
    if config.source == "env":
        from chalicelib.notifications.unsubscribe import secrets
        return secrets
    parameter = SsmParameter(ssm_client, config.unsubscribe_secrets_parameter)
    return Cached(lambda: split_secrets(parameter()), config.ttl_seconds, clock,
                  name=f"SSM parameter {config.unsubscribe_secrets_parameter}", log=log)
