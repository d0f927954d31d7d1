"""Bearer JWTs (RS256 or ES256), verified against a JWKS with rotation by `kid`.

The key set comes from a loader (an environment variable locally, a parameter store or a JWKS URL in AWS) and
is cached; a token signed with a key we have not seen makes us reload once, so a new key needs no redeploy.
"""
from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import jwt

from chalicelib.errors import ApiError

ROLES = ("learner", "mdo_admin", "national_admin")
ALGORITHMS = ["RS256", "ES256"]  # asymmetric only: an HS256 token can never pass as one of ours


@dataclass(frozen=True)
class Principal:
    sub: str
    org_id: Optional[str]
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


def unauthenticated(reason: str) -> ApiError:
    return ApiError(401, "unauthenticated", reason, "Authorization")


class KeySet:
    """JWKS by kid, reloaded every `ttl_seconds`, and sooner (at most every `min_reload_seconds`) when an
    unknown kid turns up. A reload that fails keeps the keys we have (and counts as a load for the timing
    above); with no keys yet, it raises (the request fails 5xx, not 401: the token may well be good)."""

    def __init__(self, load: Callable[[], dict], ttl_seconds: float = 300, min_reload_seconds: float = 30,
                 clock: Callable[[], float] = time.monotonic):
        self._load, self._ttl, self._min_reload, self._clock = load, ttl_seconds, min_reload_seconds, clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded = False
        self._loaded_at = float("-inf")

    def _reload(self) -> None:
        try:
            data = self._load() or {"keys": []}
            keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(data).keys if k.key_id} if data["keys"] else {}
        except Exception as exc:
            if not self._loaded:
                raise
            from chalicelib.logs import logger
            logger.warning("could not reload the token signing keys (%s); keeping the ones we have",
                           type(exc).__name__)
            self._loaded_at = self._clock()  # counts as a load: no retry storm while the source is down
            return
        self._keys, self._loaded, self._loaded_at = keys, True, self._clock()

    def key(self, kid: Optional[str]) -> jwt.PyJWK:
        age = self._clock() - self._loaded_at
        if age > self._ttl or (kid not in self._keys and age > self._min_reload):
            self._reload()
        if kid not in self._keys:
            raise unauthenticated("token is signed with a key we do not know")
        return self._keys[kid]


def jwks_from_json(text: Optional[str]) -> dict:
    return json.loads(text) if text else {"keys": []}


def jwks_from_url(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (configured https URL)
        return json.load(response)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Our own tokens' claims: `roles` (a list) and `org_id`."""
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not isinstance(claims["sub"], str):
        raise unauthenticated("token claims have the wrong types")
    org_id = claims.get("org_id")
    return Principal(claims["sub"], org_id if isinstance(org_id, str) else None,
                     frozenset(r for r in roles if r in ROLES))


class TokenVerifier:
    """Bearer tokens of one issuer (keys, audience, how claims map to a Principal), and optionally of `others`
    (each a TokenVerifier of another issuer, e.g. the platform's OpenID provider for the mobile app's access
    tokens): a token goes to the verifier of the issuer it names (unverified, to choose; then verified there).
    One of `others` with our own issuer takes that issuer's tokens (the provider's live JWKS by kid wins over a
    copied key set)."""

    def __init__(self, keys: KeySet, issuer: str, audience: str, leeway_seconds: int = 60,
                 to_principal: Callable[[Mapping[str, Any]], Principal] = principal_from_claims,
                 others: Sequence["TokenVerifier"] = ()):
        self.keys, self.issuer, self.audience, self.leeway = keys, issuer, audience, leeway_seconds
        self.to_principal, self.others = to_principal, tuple(others)

    def principal(self, authorization: Optional[str]) -> Principal:
        """The caller behind an `Authorization: Bearer <jwt>` header, or a 401 saying why not."""
        scheme, _, token = (authorization or "").partition(" ")
        if not authorization:
            raise unauthenticated("missing bearer token")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("Authorization must be 'Bearer <token>'")
        if self.others:
            try:
                issuer = jwt.decode(token.strip(), options={"verify_signature": False}).get("iss")
            except jwt.InvalidTokenError:
                raise unauthenticated("token is not a valid signed token") from None
            for other in self.others:
                if issuer == other.issuer:
                    return other.principal(authorization)
        try:
            kid = jwt.get_unverified_header(token.strip()).get("kid")
            claims = jwt.decode(token.strip(), self.keys.key(kid).key, algorithms=ALGORITHMS,
                                audience=self.audience, issuer=self.issuer, leeway=self.leeway,
                                options={"require": ["exp", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthenticated("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise unauthenticated("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise unauthenticated("token is from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthenticated(f"token has no '{exc.claim}' claim") from None
        except jwt.InvalidTokenError:
            raise unauthenticated("token is not a valid signed token") from None
        return self.to_principal(claims)
