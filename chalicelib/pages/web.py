"""The page layer: a request in, HTML (or a redirect, or a file) out, with errors as pages.

A view is `view(request: PageRequest, session: Session | None) -> Page | Redirect | Download`; it calls use cases
in-process and raises ApiError like they do. serve() turns a 401 into the login page (local) or a 401 page, a 403
into a 403 page, and so on, and adds the headers every page needs.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping, Optional, Union
from urllib.parse import parse_qsl, urlencode, urlsplit

from chalice import Response
from markupsafe import Markup

from chalicelib import settings
from chalicelib.errors import ApiError
from chalicelib.events import is_id
from chalicelib.exports import template_environment
from chalicelib.learners import preferences
from chalicelib.pages import session as sessions
from chalicelib.pages.components import Download
from chalicelib.pages.i18n import UI_LANGUAGES, Translator, ui_language

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 8 * 1024


@dataclass
class PageRequest:
    path: str
    method: str = "GET"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # chalice's are case-insensitive; tests pass lower case
    raw_body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)  # the route's {path parameters}

    @classmethod
    def from_chalice(cls, request, path: str) -> "PageRequest":
        return cls(path, request.method, dict(request.query_params or {}), request.headers, request.raw_body or b"",
                   dict(request.uri_params or {}))

    @property
    def cookies(self) -> dict[str, str]:
        return sessions.read_cookies(self.headers.get("cookie"))

    @property
    def form(self) -> dict[str, str]:
        if len(self.raw_body) > MAX_FORM_BYTES:
            raise ApiError(413, "too_large", "the form is too large", "body")
        try:
            return dict(parse_qsl(self.raw_body.decode("utf-8"), max_num_fields=50))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "invalid_request", "the form could not be read", "body") from None


@dataclass
class Page:
    template: str
    context: dict
    title: str  # a catalogue key
    status: int = 200


@dataclass
class Redirect:
    location: str
    set_cookie: Union[str, list[str], None] = None  # one Set-Cookie, or several


View = Callable[[PageRequest, Optional[sessions.Session]], Union[Page, Redirect, Download]]


# --- rendering -----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment():
    return template_environment(TEMPLATES)


def _asset(name: str) -> tuple[Markup, str]:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return Markup(text), "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@lru_cache(maxsize=1)
def assets() -> dict:
    """The one stylesheet and the one script, inlined (no extra request on a slow line), allowed by hash."""
    (css, css_hash), (js, js_hash) = _asset("pages.css"), _asset("pages.js")
    # The sign-out form is redirected to the OpenID provider's end_session_endpoint: browsers apply form-action
    # to the redirect too, so the provider's origin is allowed there (and nothing else).
    provider = urlsplit(settings.OIDC_ISSUER) if settings.OIDC_ISSUER else None
    forms = "'self'" + (f" {provider.scheme}://{provider.netloc}" if provider and provider.netloc else "")
    policy = (f"default-src 'none'; style-src '{css_hash}'; script-src '{js_hash}'; img-src 'self' data:; "
              f"form-action {forms}; frame-ancestors 'none'; base-uri 'none'")
    return {"css": css, "js": js, "policy": policy}


def nav_links(session: Optional[sessions.Session]) -> list[tuple[str, str]]:
    """(path, catalogue key) of the main navigation; admin links only for admins."""
    if session is None:
        return []
    links = [("/me", "site.me"), ("/leaderboard", "site.leaderboard"), ("/orgs", "site.orgs")]
    if session.is_admin:
        links.append(("/admin", "site.admin"))
    return links


def render(page: Page, request: PageRequest, session: Optional[sessions.Session], language: str) -> str:
    t = Translator(language)
    context = {**page.context, "t": t, "lang": t.code, "title": t(page.title), "path": request.path,
               "nav": nav_links(session), "session": session, "csrf": session.csrf if session else "",
               "languages": UI_LANGUAGES, "here": request.path + ("?" + urlencode(dict(request.query))
                                                                 if request.query else ""),
               **{k: v for k, v in assets().items() if k != "policy"}}
    return _environment().get_template(page.template).render(**context)


def _headers(content_type: str) -> dict:
    return {"Content-Type": content_type, "Cache-Control": "no-store", "Vary": "Cookie",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "Content-Security-Policy": assets()["policy"]}


# --- language -----------------------------------------------------------------------------------------

def learner_record(session: Optional[sessions.Session], adapters):
    """The caller's own learner record (cached on the session: one read per request), or None (admins)."""
    if session is None:
        return None
    if "record" not in session.cache:
        sub = session.principal.sub
        session.cache["record"] = adapters.learners.get(sub) if is_id(sub) else None
    return session.cache["record"]


def language_of(session: Optional[sessions.Session], cookies: dict, adapters) -> str:
    """The learner's saved preference (or the platform's language for them), else the language cookie."""
    record = learner_record(session, adapters)
    if record is not None:
        return ui_language(preferences.effective(record.preferences, record.standing.profile.language).language)
    return ui_language(cookies.get(sessions.LANGUAGE_COOKIE))


# --- serving ------------------------------------------------------------------------------------------

def serve(request: PageRequest, view: View, adapters, public: bool = False) -> Response:
    cookies, session = request.cookies, None
    try:
        session = None if public else sessions.session_from(cookies, adapters)
        result = view(request, session)
        if isinstance(result, Redirect):
            headers: dict = {"Location": result.location, "Cache-Control": "no-store", "Content-Type": "text/html"}
            if result.set_cookie:
                headers["Set-Cookie"] = result.set_cookie
            return Response(body="", status_code=303, headers=headers)
        if isinstance(result, Download):
            return Response(body=result.body, status_code=200, headers={
                **_headers(result.content_type),
                "Content-Disposition": f'attachment; filename="{result.filename}"'})
        html = render(result, request, session, language_of(session, cookies, adapters))
        return Response(body=html, status_code=result.status, headers=_headers("text/html; charset=utf-8"))
    except ApiError as error:
        return error_page(error, request, session, cookies, adapters)


ERROR_PAGES = {400: 400, 401: 401, 403: 403, 404: 404, 409: 409, 413: 400, 503: 503}  # status -> its title


def error_page(error: ApiError, request: PageRequest, session, cookies, adapters) -> Response:
    if error.status == 401 and getattr(adapters, "oidc", None) is not None:
        # No session, or an expired one: through the provider again (no password while its session lasts).
        back = request.path if request.method == "GET" else "/me"
        return Response(body="", status_code=303, headers={
            "Location": "/login?" + urlencode({"next": back}), "Cache-Control": "no-store",
            "Content-Type": "text/html"})
    status = error.status if error.status in ERROR_PAGES else 400
    page = Page("error.html", {"status": status, "error": error}, f"error.title_{ERROR_PAGES[status]}", status)
    shown_session = session if status != 401 else None
    language = ui_language(cookies.get(sessions.LANGUAGE_COOKIE))
    if shown_session is not None:
        try:
            language = language_of(shown_session, cookies, adapters)
        except ApiError:
            pass  # the page in the cookie's language, then
    html = render(page, request, shown_session, language)
    return Response(body=html, status_code=status, headers=_headers("text/html; charset=utf-8"))


def not_found_page(what: str = "page") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
