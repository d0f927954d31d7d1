"""Who is looking at a page: the same JWT the API takes as a bearer token, kept in an HttpOnly cookie.

The cookie is SameSite=Lax (other sites cannot make a browser send it with a POST) and Secure everywhere but
the local stack (plain http on 127.0.0.1). Forms that change something also carry a CSRF token derived from the
session token: a page from another site can neither read the HttpOnly cookie nor compute the token, and the
Origin header, when the browser sends one, must be this site.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Optional
from urllib.parse import urlsplit

from chalicelib import settings
from chalicelib.errors import ApiError
from chalicelib.identity.tokens import Principal, unauthenticated

SESSION_COOKIE = "ke_session"
LANGUAGE_COOKIE = "ke_lang"
SESSION_SECONDS = 8 * 3600  # the dev tokens' lifetime; the token's own expiry is checked on every request


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
    return Session(adapters.tokens.principal(f"Bearer {token}"), token, cookies)


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
