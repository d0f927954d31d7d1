"""Routes only the local stack serves, as a Chalice blueprint that local/serve.py registers (app.py never does):

- `/login` (GET and POST): sign in as a seeded demo learner or a demo admin, with a token minted by the
  development key from .local/ (local/dev_keys.py), which only the local stack trusts;
- `/dev/outbox`: every notification decided today and yesterday, as its recipient sees it.

Each route also answers 404 unless the stage is local, in case the blueprint is ever registered elsewhere.
Tests that exercise these routes register the blueprint on the app through a fixture (tests/conftest.py
dev_routes). local/ is not packaged for Lambda: nothing in chalicelib imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from chalice import Blueprint, Chalice, Response

from chalicelib import settings
from chalicelib.bootstrap import adapters
from chalicelib.errors import ApiError
from chalicelib.notifications import service as notifications
from chalicelib.pages import session as sessions
from chalicelib.pages.web import Page, PageRequest, Redirect, not_found_page, serve

FORM = ["application/x-www-form-urlencoded"]


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _require_local() -> None:
    if not sessions.is_local():
        raise not_found_page()


# --- the views (PageRequest in, Page or Redirect out, as chalicelib/pages' views) ------------------------

def login_page(request: PageRequest, session, wiring, now) -> Page:
    _require_local()
    return Page("login.html", {"learners": demo_learners(), "admins": DEMO_ADMINS,
                               "next": sessions.safe_next(request.query.get("next"))}, "login.title")


def sign_in(request: PageRequest, session, wiring, now) -> Redirect:
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


# --- the blueprint ---------------------------------------------------------------------------------------

# (path, method) of every route below: what tests/conftest.py takes off the app again after a test.
ROUTES = (("/login", "GET"), ("/login", "POST"), ("/dev/outbox", "GET"))


def blueprint() -> Blueprint:
    """A new blueprint each time: Chalice consumes a route's options when it registers it, so one blueprint
    object registers correctly once only."""
    bp = Blueprint(__name__)

    def page(path, view):
        request = PageRequest.from_chalice(bp.current_request, path)
        return serve(request, lambda req, session: view(req, session, adapters(), _now()), adapters(), public=True)

    @bp.route("/login", methods=["GET"])
    def dev_login_page():
        return page("/login", login_page)

    @bp.route("/login", methods=["POST"], content_types=FORM)
    def dev_login_submit():
        return page("/login", sign_in)

    @bp.route("/dev/outbox")
    def dev_outbox():
        # Every message decided today and yesterday, as its recipient sees it (404 outside the local stage).
        return Response(body=notifications.dev_outbox_page(adapters(), _now()), status_code=200,
                        headers={"Content-Type": "text/html; charset=utf-8"})

    return bp


def register(app: Chalice) -> None:
    """The local-only routes on `app` (the local stack's server, or a test's app)."""
    app.register_blueprint(blueprint())
