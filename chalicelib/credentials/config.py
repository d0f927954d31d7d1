"""Credential settings: config.toml (numbers and names) and where our public URLs are (the deployment's base URL)."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent
IDENTITY_TYPES = ("identifier", "emailAddress")


@dataclass(frozen=True)
class CredentialConfig:
    base_url: str  # where this service is reached from outside, without a trailing slash
    issuer_name: str
    issuer_description: str
    valid_days: int = 0  # 0: credentials never expire
    identity: str = "identifier"
    status_lists: int = 16
    max_reason_length: int = 500
    cache_seconds: int = 300

    # Our URLs. Everything a credential points to is served by this service (app.py, "credentials" block).
    @property
    def issuer_id(self) -> str:
        return f"{self.base_url}/issuer"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/issuer/jwks.json"

    def credential_url(self, credential_id: str) -> str:
        return f"{self.base_url}/credentials/{credential_id}"

    def status_list_url(self, list_id: str) -> str:
        return f"{self.base_url}/credentials/status/{list_id}"

    def achievement_url(self, badge_id: str) -> str:
        return f"{self.base_url}/badges/{badge_id}"

    def image_url(self, badge_id: str) -> str:
        return f"{self.base_url}/badges/{badge_id}/image.svg"

    def key_uri(self, kid: str) -> str:
        """The JOSE header's kid: a URI that dereferences to the public key (OB 3.0 §JOSE header)."""
        return f"{self.jwks_url}#{kid}"


def config_from(data: dict, base_url: str) -> CredentialConfig:
    credential = data.get("credential", {})
    config = CredentialConfig(base_url=base_url.rstrip("/"), issuer_name=data["issuer"]["name"],
                              issuer_description=data["issuer"].get("description", ""), **credential)
    if config.identity not in IDENTITY_TYPES:
        raise ValueError(f"credential.identity must be one of {IDENTITY_TYPES}, got {config.identity!r}")
    if config.valid_days < 0 or config.status_lists < 1 or config.max_reason_length < 1:
        raise ValueError("credential.valid_days must be >= 0, status_lists and max_reason_length >= 1")
    return config


@lru_cache(maxsize=1)
def default_config() -> CredentialConfig:
    from chalicelib import settings
    with open(os.environ.get("KARMAYOGI_CREDENTIALS_FILE") or HERE / "config.toml", "rb") as f:
        return config_from(tomllib.load(f), settings.public_base_url())


@lru_cache(maxsize=1)
def design() -> dict:
    with open(HERE / "design.toml", "rb") as f:
        return tomllib.load(f)
