"""The issuer's credential signing keys, rotated by `kid` like the bearer-token keys (identity/tokens.py).

The key set is a JWKS: the first key that has its private part signs every new credential; every key in the
set verifies, so credentials signed before a rotation still verify. Rotating: put the new private key first
and keep the old one after it (or only its public half, once the private part is destroyed). A key is never
removed while credentials it signed should still verify.

Where the set comes from is the loader's business (settings.issuer_keys locally, SSM in AWS: secrets.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

import jwt
from jwt.algorithms import get_default_algorithms

ALGORITHMS = ("RS256", "ES256")  # asymmetric only, as for tokens; RS256 is the OB 3.0 minimum
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class NoSigningKey(RuntimeError):
    """No key with a private part is configured: credentials cannot be issued (5xx; an operator's mistake)."""


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    algorithm: str
    public: Any  # a cryptography public key
    private: Optional[Any]  # None for a retired key kept only to verify
    public_jwk: dict


def _algorithm_of(jwk: dict) -> str:
    algorithm = jwk.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(jwk.get("kty"))
    if algorithm not in ALGORITHMS:
        raise ValueError(f"issuer key {jwk.get('kid')!r}: algorithm must be one of {ALGORITHMS}")
    return algorithm


def parse_key(jwk: dict) -> IssuerKey:
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("every issuer key needs a kid")
    algorithm = _algorithm_of(jwk)
    key = jwt.PyJWK(jwk, algorithm).key
    is_private = bool(_PRIVATE_MEMBERS & set(jwk))
    public = key.public_key() if is_private else key
    public_jwk = {**get_default_algorithms()[algorithm].to_jwk(public, as_dict=True),
                  "kid": kid, "alg": algorithm, "use": "sig"}
    assert not (_PRIVATE_MEMBERS & set(public_jwk)), "a private member must never be published"
    return IssuerKey(kid, algorithm, public, key if is_private else None, public_jwk)


def parse_key_set(text_or_dict) -> tuple[IssuerKey, ...]:
    data = json.loads(text_or_dict) if isinstance(text_or_dict, (str, bytes)) else text_or_dict
    keys = tuple(parse_key(k) for k in (data or {}).get("keys", []))
    if len({k.kid for k in keys}) != len(keys):
        raise ValueError("issuer key ids must be unique")
    return keys


class IssuerKeys:
    """The current key set, parsed once per distinct value the loader returns (parsing an RSA key costs ms)."""

    def __init__(self, load: Callable[[], Optional[object]]):
        self._load = load
        self._raw: object = object()
        self._keys: tuple[IssuerKey, ...] = ()

    def keys(self) -> tuple[IssuerKey, ...]:
        raw = self._load()
        if raw != self._raw:
            self._keys, self._raw = (parse_key_set(raw) if raw else ()), raw
        return self._keys

    def signing_key(self) -> IssuerKey:
        for key in self.keys():
            if key.private is not None:
                return key
        raise NoSigningKey("no credential signing key is configured (KARMAYOGI_ISSUER_KEYS or the SSM parameter)")

    def verification_key(self, kid: Optional[str]) -> Optional[IssuerKey]:
        return next((k for k in self.keys() if k.kid == kid), None)

    def public_jwks(self) -> dict:
        return {"keys": [k.public_jwk for k in self.keys()]}
