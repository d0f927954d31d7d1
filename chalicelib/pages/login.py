"""The local stack's sign-in page: pick a seeded demo learner or a demo admin, get a session cookie.

Local stage only (404 anywhere else): the token is minted with the development key from .local/
(local/dev_keys.py), which only the local stack trusts. local/ is not packaged for Lambda, so it is imported here
only once the stage is known to be local.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from chalicelib import settings
from chalicelib.errors import ApiError
from chalicelib.pages import session as sessions
from chalicelib.pages.web import Page, PageRequest, Redirect, not_found_page


@dataclass(frozen=True)
class DemoPerson:
    sub: str
    name: str
    roles: tuple[str, ...]
    org_id: Optional[str]


DEMO_ADMINS = (
    DemoPerson("admin", "National admin", ("national_admin",), None),
    DemoPerson("admin-mines", "Admin, Ministry of Mines (Headquarters)", ("mdo_admin",), "org_mines_hq"),
    DemoPerson("admin-min-mines", "Admin, Ministry of Mines (and everything below it)", ("mdo_admin",), "min_mines"),
)


def demo_learners() -> tuple[DemoPerson, ...]:
    """The roster learners every seed includes (local/seed.py ROSTER, from local/fixtures/roster.csv)."""
    from local.seed import ROSTER
    return tuple(DemoPerson(p.id, p.name, ("learner",), p.org_id) for p in ROSTER)


def mint_dev_token(person: DemoPerson) -> str:
    from local import dev_keys
    key, kid = dev_keys.dev_key()
    return dev_keys.mint(key, kid, person.sub, list(person.roles), person.org_id,
                         issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE)


def _require_local() -> None:
    if not sessions.is_local():
        raise not_found_page()


def login_page(request: PageRequest, session, adapters, now) -> Page:
    _require_local()
    return Page("login.html", {"learners": demo_learners(), "admins": DEMO_ADMINS,
                               "next": sessions.safe_next(request.query.get("next"))}, "login.title")


def sign_in(request: PageRequest, session, adapters, now) -> Redirect:
    _require_local()
    form = request.form
    origin, host = request.headers.get("origin"), request.headers.get("host")
    if origin and host and origin.split("://", 1)[-1] != host:
        raise ApiError(403, "forbidden", "the form was sent from another site", "Origin")
    people = {p.sub: p for p in demo_learners() + DEMO_ADMINS}
    person = people.get(form.get("sub", ""))
    if person is None:
        raise ApiError(400, "invalid_request", "pick one of the listed people", "sub")
    default = "/admin" if "learner" not in person.roles else "/me"
    return Redirect(sessions.safe_next(form.get("next"), default), sessions.session_cookie(mint_dev_token(person)))


def sign_out(request: PageRequest, session: sessions.Session, adapters, now) -> Redirect:
    sessions.check_csrf(session, request.form, request.headers)
    return Redirect("/login" if sessions.is_local() else "/", sessions.cleared_session_cookie())
