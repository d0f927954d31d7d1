"""Signing in and out of the pages through the platform's OpenID Connect provider (docs/sign-in.md).

- `GET /login?next=` makes a `state`, a `nonce` and a PKCE verifier, keeps them in a short-lived signed HttpOnly
  cookie (`ke_signin`, 10 minutes: Lambda keeps nothing between requests), and sends the browser to the
  provider's authorization endpoint (from its discovery document) with the S256 challenge.
- `GET /auth/callback?code&state` checks the state against the cookie, redeems the code with the verifier
  (identity/oidc.py: the ID token's signature, iss, aud, exp, iat, nonce, azp), maps the claims to a person
  (roles and org by configuration) and sets our own session cookie (pages/session.py), then goes to `next`.
- `POST /logout` (CSRF token checked) clears our session and ends the provider's (RP-Initiated Logout:
  `end_session_endpoint` with client_id and post_logout_redirect_uri), which comes back to `/signed-out`.

Every failure is a page: 503 when the provider cannot be reached, 400 for a wrong state or a code that was used
or has expired or a token that is not right, 403 when the claims do not say which org.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from chalicelib.errors import ApiError
from chalicelib.identity.oidc import OidcProvider, sign_in_failed
from chalicelib.pages import session as sessions
from chalicelib.pages.web import Page, PageRequest, Redirect


def _provider(adapters) -> OidcProvider:
    if adapters.oidc is None:
        raise ApiError(503, "sign_in_unavailable", "sign-in is not configured on this server")
    return adapters.oidc


def sign_in(request: PageRequest, session, adapters, now: datetime) -> Redirect:
    provider = _provider(adapters)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    url = provider.authorization_url(state, nonce, verifier)
    pending = sessions.sign({"state": state, "nonce": nonce, "verifier": verifier,
                             "next": sessions.safe_next(request.query.get("next"), ""),
                             "exp": int(now.timestamp()) + sessions.SIGN_IN_SECONDS}, adapters, "sign-in")
    return Redirect(url, sessions.cookie(sessions.SIGN_IN_COOKIE, pending, sessions.SIGN_IN_SECONDS))


def callback(request: PageRequest, session, adapters, now: datetime) -> Redirect:
    provider = _provider(adapters)
    query = request.query
    if query.get("error"):
        said = (query.get("error_description") or query["error"])[:200]
        status = 403 if query["error"] == "access_denied" else 400
        raise ApiError(status, "sign_in_failed", f"the sign-in service did not sign you in ({said}); "
                                                 "please sign in again")
    raw = request.cookies.get(sessions.SIGN_IN_COOKIE)
    pending = sessions.unsign(raw, adapters, "sign-in", now.timestamp()) if raw else None
    if pending is None:
        raise sign_in_failed("this sign-in has expired or was started in another browser; please sign in again",
                             "state")
    if not hmac.compare_digest(str(query.get("state", "")).encode(), str(pending.get("state", "")).encode()):
        raise sign_in_failed("the answer from the sign-in service does not belong to this sign-in; please sign "
                             "in again", "state")
    if "iss" in query and query["iss"] != provider.config.issuer:  # RFC 9207: the answer is from our provider
        raise sign_in_failed("the answer came from another sign-in service; please sign in again", "iss")
    code = query.get("code")
    if not code:
        raise sign_in_failed("the sign-in service sent no code; please sign in again", "code")
    tokens = provider.redeem(code, pending["verifier"], pending["nonce"])
    principal = provider.config.mapping.principal(tokens.claims)
    admin = principal.has("mdo_admin") or principal.has("national_admin")
    target = sessions.safe_next(pending.get("next") or None, "/admin" if admin else "/me")
    return Redirect(target, [sessions.session_cookie(sessions.issue_session(principal, adapters, now.timestamp())),
                             sessions.cookie(sessions.SIGN_IN_COOKIE, "", 0)])


def sign_out(request: PageRequest, session: sessions.Session, adapters, now) -> Redirect:
    sessions.check_csrf(session, request.form, request.headers)
    ended = adapters.oidc.end_session_url() if adapters.oidc is not None else None
    return Redirect(ended or "/signed-out", sessions.cleared_session_cookie())


def signed_out(request: PageRequest, session, adapters, now) -> Page:
    return Page("signed_out.html", {}, "login.signed_out")
