"""Who is looking at a page: our own short session, kept in a signed HttpOnly cookie.

After signing in through the platform's OpenID provider (pages/login.py), the cookie holds only what the pages
need: the person's id, org and roles, when it was issued and when it expires (SESSION_SECONDS), signed with
HMAC-SHA256 by a session secret (KARMAYOGI_SESSION_SECRETS locally, SSM in AWS; the first signs, every one is
accepted, for rotation). The provider's own tokens are never kept. An expired or altered cookie is no session:
the page sends the person through the provider again (usually without a password prompt while the provider's
session lasts).

The cookie is SameSite=Lax (other sites cannot make a browser send it with a POST) and Secure everywhere but
the local stack (plain http on 127.0.0.1). Forms that change something also carry a CSRF token derived from the
session token: a page from another site can neither read the HttpOnly cookie nor compute the token, and the
Origin header, when the browser sends one, must be this site.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Optional
from urllib.parse import urlsplit

import jwt

from chalicelib import settings
from chalicelib.errors import ApiError
from chalicelib.identity.tokens import ROLES, Principal, unauthenticated

SESSION_COOKIE = "ke_session"
LANGUAGE_COOKIE = "ke_lang"
SIGN_IN_COOKIE = "ke_signin"  # state, nonce and PKCE verifier between /login and /auth/callback
SIGN_IN_SECONDS = 600
SESSION_ISSUER = "karmayogi-engage-pages"
SESSION_SECONDS = settings.SESSION_SECONDS


def is_local() -> bool:
    return settings.STAGE == "local"


def read_cookies(header: Optional[str]) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def cookie(name: str, value: str, max_age: int, http_only: bool = True) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
    if http_only:
        parts.append("HttpOnly")
    if not is_local():
        parts.append("Secure")
    return "; ".join(parts)


def session_cookie(token: str) -> str:
    return cookie(SESSION_COOKIE, token, SESSION_SECONDS)


def cleared_session_cookie() -> str:
    return cookie(SESSION_COOKIE, "", 0)


# --- signed values (the session, the sign-in state): HS256 with our own secret, never a provider's key -------

def _signing_secrets(adapters) -> list[str]:
    found = adapters.session_secrets()
    if not found:
        raise ApiError(503, "unavailable", "sign-in is not configured on this server (no session secret)")
    return found


def sign(claims: dict, adapters, purpose: str) -> str:
    return jwt.encode({**claims, "typ": purpose}, _signing_secrets(adapters)[0], algorithm="HS256")


def unsign(value: str, adapters, purpose: str, now: Optional[float] = None) -> Optional[dict]:
    """The claims of a value we signed for `purpose`, unexpired; None otherwise (altered, expired, other use)."""
    for secret in _signing_secrets(adapters):
        try:
            claims = jwt.decode(value, secret, algorithms=["HS256"], options={"require": ["exp", "typ"],
                                                                             "verify_exp": False})
        except jwt.InvalidTokenError:
            continue
        if claims.get("typ") != purpose or claims["exp"] <= (time.time() if now is None else now):
            return None
        return claims
    return None


def issue_session(principal: Principal, adapters, now: Optional[float] = None) -> str:
    """Our session for a signed-in person (the cookie's value)."""
    issued = int(time.time() if now is None else now)
    return sign({"iss": SESSION_ISSUER, "sub": principal.sub, "org": principal.org_id,
                 "roles": sorted(principal.roles), "iat": issued, "exp": issued + SESSION_SECONDS,
                 "sid": secrets.token_urlsafe(12)}, adapters, "session")


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(b"karmayogi-pages-csrf|" + session_token.encode()).hexdigest()[:40]


@dataclass
class Session:
    principal: Principal
    token: str
    cookies: dict[str, str] = field(default_factory=dict)
    # The caller's own learner record, read at most once per request (pages/web.py learner_record).
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)

    @property
    def is_admin(self) -> bool:
        return self.principal.has("mdo_admin") or self.principal.has("national_admin")


def session_from(cookies: dict[str, str], adapters) -> Session:
    """The signed-in caller, or a 401 ApiError (the page layer turns it into the login redirect or page)."""
    token = cookies.get(SESSION_COOKIE)
    if not token:
        raise unauthenticated("not signed in")
    claims = unsign(token, adapters, "session")
    if claims is None:
        raise unauthenticated("the session has expired")
    roles, org = claims.get("roles"), claims.get("org")
    if not isinstance(claims.get("sub"), str) or not isinstance(roles, list):
        raise unauthenticated("the session has expired")
    principal = Principal(claims["sub"], org if isinstance(org, str) else None,
                          frozenset(r for r in roles if r in ROLES))
    return Session(principal, token, cookies)


def check_csrf(session: Session, form: dict[str, str], headers) -> None:
    """403 unless the form carries this session's token and the request (if it says) comes from this site."""
    sent = form.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise ApiError(403, "forbidden", "the form has expired or did not come from this site; please try again",
                       "csrf")
    origin, host = headers.get("origin"), headers.get("host")
    if origin and origin != "null" and host and urlsplit(origin).netloc != host:
        raise ApiError(403, "forbidden", "the form was sent from another site", "Origin")


def safe_next(target: Optional[str], default: str = "/me") -> str:
    """Only a path on this site (never //host or a scheme): a redirect must not lead elsewhere. Printable,
    non-space ASCII only: browsers drop tabs and newlines from a Location, so "/\t/evil.example" would be
    //evil.example, another site."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and all("!" <= c <= "~" for c in target)):
        return target
    return default
