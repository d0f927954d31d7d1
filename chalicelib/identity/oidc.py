"""The platform's OpenID Connect provider (Keycloak on iGOT; oidc-provider on the local stack), as a relying party.

What the pages need from it (chalicelib/pages/login.py drives the flow; docs/sign-in.md is the operator's side):

* the discovery document (`<issuer>/.well-known/openid-configuration`) and the key set at its `jwks_uri`, both
  cached per process (the keys reloaded when a token names a `kid` we have not seen: rotation needs no deploy);
* the authorization code flow with PKCE (S256), `state` and `nonce` (Authlib builds the request and redeems the
  code; joserfc checks the ID token's signature by `kid`; Authlib's CodeIDToken checks `iss`, `aud`, `exp`,
  `iat`, `nonce` and `azp`);
* the mapping of claims to a Principal (`ClaimMapping`, by configuration: where the roles are, which role names
  are ours, where the org is), shared with bearer tokens the provider issues (identity/tokens.py).

Every failure is an ApiError with a status the page layer shows as a page: 503 when the provider cannot be
reached, 400 when the answer is wrong (state, code, token), 403 when the claims do not say which org.
HTTP goes through `requests` (Authlib's OAuth2Session is a requests.Session), imported on first use only: the
API's cold start does not pay for it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from chalicelib.errors import ApiError
from chalicelib.identity.tokens import ROLES, Principal

ID_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256"]  # asymmetric only (never "none" or HS256 with the secret)


def sign_in_failed(message: str, field_name: Optional[str] = None) -> ApiError:
    return ApiError(400, "sign_in_failed", message, field_name)


def provider_unavailable(message: str = "the sign-in service is not answering; please try again in a minute"
                         ) -> ApiError:
    return ApiError(503, "sign_in_unavailable", message)


# --- claims -> Principal ---------------------------------------------------------------------------------

def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None. A top-level claim whose name has dots
    (`https://example/org`) is found too."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class ClaimMapping:
    """Where a token says who someone is. `role_claims`: dotted paths to lists of role names (`{client_id}` is
    replaced by ours: Keycloak's client roles are under `resource_access.<client>.roles`); `role_map`: provider
    role name -> our role; `org_claim`: dotted path to the org id. A person with none of our roles is a learner;
    only a national admin may have no org."""
    role_claims: tuple[str, ...] = ("roles", "realm_access.roles", "resource_access.{client_id}.roles")
    org_claim: str = "org_id"
    role_map: Mapping[str, str] = field(default_factory=lambda: {r: r for r in ROLES})
    client_id: str = ""

    def roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        found: set[str] = set()
        for path in self.role_claims:
            # the client id substituted after splitting: a client id may itself hold dots
            parts = [p.replace("{client_id}", self.client_id) for p in path.split(".")]
            value: Any = claims.get(path) if path in claims else claims
            if path not in claims:
                for part in parts:
                    value = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(value, list):
                found.update(self.role_map[r] for r in value if isinstance(r, str) and r in self.role_map)
        return frozenset(found & set(ROLES)) or frozenset({"learner"})

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """Who the claims say; a 403 ApiError when they do not say which org (national admins need none)."""
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise sign_in_failed("the sign-in service did not say who you are (no 'sub' claim)")
        roles = self.roles(claims)
        org = claim_at(claims, self.org_claim)
        if not isinstance(org, str) or not org.strip():
            if "national_admin" not in roles:
                raise ApiError(403, "no_org", f"your account does not say which organisation you belong to (the "
                                              f"'{self.org_claim}' claim); ask your organisation's iGOT "
                                              "administrator to set it, then sign in again", "org")
            org = None
        return Principal(sub, org.strip() if org else None, roles)


# --- the provider ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: Callable[[], Optional[str]]  # SSM SecureString in AWS; None for a public client
    redirect_uri: str  # <public base URL>/auth/callback, registered with the provider
    post_logout_redirect_uri: str  # <public base URL>/signed-out, registered with the provider
    mapping: ClaimMapping
    scopes: str = "openid profile"
    leeway_seconds: int = 60
    timeout_seconds: float = 5.0
    metadata_ttl_seconds: float = 3600.0
    # A requests.Session factory: the fast tests mount an in-process transport on it.
    session_factory: Optional[Callable[[], Any]] = None


@dataclass(frozen=True)
class Tokens:
    id_token: str
    claims: dict


class OidcProvider:
    """Discovery and keys (cached per process), the authorization URL, and redeeming a code."""

    def __init__(self, config: OidcConfig, clock: Callable[[], float] = time.time):
        self.config, self.clock = config, clock
        self._lock = threading.Lock()
        self._metadata: Optional[dict] = None
        self._metadata_at = float("-inf")
        self._jwks: Optional[dict] = None
        self._jwks_at = float("-inf")

    # -- http
    def _session(self):
        if self.config.session_factory is not None:
            return self.config.session_factory()
        import requests
        return requests.Session()

    def _get_json(self, url: str) -> dict:
        import requests
        try:
            with self._session() as http:
                response = http.get(url, timeout=self.config.timeout_seconds,
                                    headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError):
            raise provider_unavailable() from None
        if not isinstance(data, dict):
            raise provider_unavailable()
        return data

    # -- discovery
    def metadata(self) -> dict:
        with self._lock:
            if self._metadata is None or self.clock() - self._metadata_at > self.config.metadata_ttl_seconds:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                data = self._get_json(url)
                if data.get("issuer") != self.config.issuer or not data.get("authorization_endpoint") \
                        or not data.get("token_endpoint") or not data.get("jwks_uri"):
                    # OpenID Connect Discovery 4.3: the issuer in the document must be the one configured
                    raise provider_unavailable("the sign-in service's configuration does not match ours; "
                                               "please tell the helpdesk")
                self._metadata, self._metadata_at = data, self.clock()
            return self._metadata

    def jwks(self, refresh: bool = False) -> dict:
        """The provider's public keys; refresh=True reloads them (at most every 30 s)."""
        with self._lock:
            stale = self.clock() - self._jwks_at > self.config.metadata_ttl_seconds
            if self._jwks is None or stale or (refresh and self.clock() - self._jwks_at > 30):
                metadata = self._metadata
            else:
                return self._jwks
        metadata = metadata or self.metadata()
        data = self._get_json(metadata["jwks_uri"])
        with self._lock:
            self._jwks, self._jwks_at = data, self.clock()
        return data

    # -- the flow
    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        from authlib.integrations.requests_client import OAuth2Session
        endpoint = self.metadata()["authorization_endpoint"]
        with OAuth2Session(self.config.client_id, scope=self.config.scopes, redirect_uri=self.config.redirect_uri,
                           code_challenge_method="S256") as client:
            url, _ = client.create_authorization_url(endpoint, state=state, nonce=nonce,
                                                     code_verifier=code_verifier)
        return url

    def redeem(self, code: str, code_verifier: str, nonce: str) -> Tokens:
        """The code exchanged (with the PKCE verifier) at the token endpoint, and the ID token checked."""
        import requests
        from authlib.integrations.base_client.errors import OAuthError
        from authlib.integrations.requests_client import OAuth2Session
        metadata = self.metadata()
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        secret = self.config.client_secret()
        auth_method = ("none" if not secret else "client_secret_basic" if "client_secret_basic" in methods
                       else "client_secret_post")
        client = OAuth2Session(self.config.client_id, secret, redirect_uri=self.config.redirect_uri,
                               token_endpoint_auth_method=auth_method)
        if self.config.session_factory is not None:
            for prefix, adapter in self.config.session_factory().adapters.items():
                client.mount(prefix, adapter)
        try:
            with client:
                token = client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                           code_verifier=code_verifier, timeout=self.config.timeout_seconds)
        except OAuthError as error:
            if error.error in ("invalid_grant",):
                raise sign_in_failed("the sign-in code was already used or has expired; please sign in again",
                                     "code") from None
            raise sign_in_failed(f"the sign-in service refused the sign-in ({error.error}); please sign in "
                                 "again") from None
        except requests.RequestException:
            raise provider_unavailable() from None
        except ValueError:  # not JSON
            raise provider_unavailable() from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise sign_in_failed("the sign-in service sent no ID token; please sign in again")
        return Tokens(id_token, self.check_id_token(id_token, nonce, token.get("access_token")))

    def check_id_token(self, id_token: str, nonce: str, access_token: Optional[str] = None) -> dict:
        """The ID token's claims once its signature (by kid, against the provider's JWKS) and claims are right."""
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt as jose_jwt
        from joserfc.jws import extract_compact
        from joserfc.errors import (ExpiredTokenError, InvalidClaimError, InvalidTokenError, JoseError,
                                    MissingClaimError)
        from joserfc.jwk import KeySet
        try:
            header = extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError):
            raise sign_in_failed("the ID token could not be read; please sign in again") from None
        kid = header.get("kid") if isinstance(header, dict) else None
        keys = self.jwks()
        if kid and not any(k.get("kid") == kid for k in keys.get("keys", [])):
            keys = self.jwks(refresh=True)  # a rotated key
        try:
            token = jose_jwt.decode(id_token, KeySet.import_key_set(keys),  # type: ignore[arg-type]
                                    algorithms=ID_TOKEN_ALGORITHMS)
        except (JoseError, ValueError) as error:
            from chalicelib.logs import logger
            logger.warning("ID token refused: %s: %s", type(error).__name__, error)
            raise sign_in_failed("the ID token's signature is not the sign-in service's; please sign in again") \
                from None
        claims = CodeIDToken(token.claims, token.header, options={
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.client_id},
        }, params={"nonce": nonce, "client_id": self.config.client_id, "access_token": access_token})
        try:
            claims.validate(now=int(self.clock()), leeway=self.config.leeway_seconds)
        except ExpiredTokenError:
            raise sign_in_failed("the ID token has expired (or this server's clock and the sign-in service's "
                                 "disagree); please sign in again") from None
        except MissingClaimError as error:
            raise sign_in_failed(f"the ID token has no '{error.claim}' claim; please sign in again") from None
        except InvalidClaimError as error:
            what = {"aud": "is for another application", "azp": "is for another application",
                    "iss": "is from another issuer", "nonce": "does not belong to this sign-in",
                    "iat": "was issued in the future (the clocks disagree)",
                    "nbf": "is not valid yet (the clocks disagree)"}.get(error.claim, f"has a wrong '{error.claim}'")
            raise sign_in_failed(f"the ID token {what}; please sign in again") from None
        except InvalidTokenError:
            raise sign_in_failed("the ID token is not valid; please sign in again") from None
        iat = token.claims.get("iat")
        if isinstance(iat, (int, float)) and iat > self.clock() + self.config.leeway_seconds:
            raise sign_in_failed("the ID token was issued in the future (the clocks disagree); please sign in "
                                 "again")
        return dict(token.claims)

    def end_session_url(self) -> Optional[str]:
        """Where to end the provider's session (RP-Initiated Logout), or None when it has no such endpoint or
        cannot be reached (then only our session ends)."""
        from urllib.parse import urlencode
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except ApiError:
            return None
        if not endpoint:
            return None
        query = urlencode({"client_id": self.config.client_id,
                           "post_logout_redirect_uri": self.config.post_logout_redirect_uri})
        return endpoint + ("&" if "?" in endpoint else "?") + query


# --- wiring (bootstrap.py) ---------------------------------------------------------------------------------

def provider_from_settings(client_secret: Callable[[], Optional[str]],
                           session_factory: Optional[Callable[[], Any]] = None) -> Optional[OidcProvider]:
    """The configured provider (KARMAYOGI_OIDC_*), or None where sign-in is not configured."""
    from chalicelib import settings
    if not settings.OIDC_ISSUER:
        return None
    base = settings.public_base_url()
    mapping = ClaimMapping(settings.OIDC_ROLE_CLAIMS, settings.OIDC_ORG_CLAIM, settings.oidc_role_map(),
                           settings.OIDC_CLIENT_ID)
    return OidcProvider(OidcConfig(
        issuer=settings.OIDC_ISSUER, client_id=settings.OIDC_CLIENT_ID, client_secret=client_secret,
        redirect_uri=f"{base}/auth/callback", post_logout_redirect_uri=f"{base}/signed-out", mapping=mapping,
        scopes=settings.OIDC_SCOPES, leeway_seconds=settings.JWT_LEEWAY_SECONDS, session_factory=session_factory))


def bearer_verifier(provider: OidcProvider, audience: str, clock: Callable[[], float] = time.monotonic):
    """A TokenVerifier for access tokens the provider issues for this API (the mobile app's), keys from its
    JWKS (by kid, reloaded on an unknown one), roles and org by the same ClaimMapping as the pages."""
    from chalicelib.identity.tokens import KeySet, TokenVerifier, unauthenticated
    mapping = provider.config.mapping

    def to_principal(claims: Mapping[str, Any]) -> Principal:
        try:
            return mapping.principal(claims)
        except ApiError as error:
            raise unauthenticated(f"token does not say which org ('{mapping.org_claim}' claim)"
                                  if error.code == "no_org" else error.message) from None

    keys = KeySet(lambda: provider.jwks(refresh=True), clock=clock)
    return TokenVerifier(keys, provider.config.issuer, audience, provider.config.leeway_seconds, to_principal)
