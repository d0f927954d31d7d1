"""Routes only the local stack serves, as a Chalice blueprint that local/serve.py registers (app.py never does):

- `/dev/outbox`: every notification decided today and yesterday, as its recipient sees it.

Signing in is the real thing locally too: `/login` goes to the local OpenID provider (local/oidc/provider.mjs),
whose accounts are DEMO_ADMINS and demo_learners() below (demo_accounts()). /dev/outbox answers 404 unless the
stage is local, in case the blueprint is ever registered elsewhere.
Tests that exercise these routes register the blueprint on the app through a fixture (tests/conftest.py
dev_routes). local/ is not packaged for Lambda: nothing in chalicelib imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from chalice import Blueprint, Chalice, Response

from chalicelib.bootstrap import adapters
from chalicelib.notifications import service as notifications


@dataclass(frozen=True)
class DemoPerson:
    """A demo account of the local OpenID provider (local/oidc/accounts.json, written by local/stack.py)."""
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


def demo_accounts() -> list[dict]:
    """The local OpenID provider's accounts: every demo learner and admin, with the claims Keycloak would send
    (realm_access.roles, org_id). local/stack.py writes them to .local/oidc-accounts.json for provider.mjs."""
    return [{"sub": p.sub, "name": p.name, "roles": list(p.roles), "org_id": p.org_id}
            for p in demo_learners() + DEMO_ADMINS]


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- the blueprint ---------------------------------------------------------------------------------------

# (path, method) of every route below: what tests/conftest.py takes off the app again after a test.
ROUTES = (("/dev/outbox", "GET"),)


def blueprint() -> Blueprint:
    """A new blueprint each time: Chalice consumes a route's options when it registers it, so one blueprint
    object registers correctly once only."""
    bp = Blueprint(__name__)

    @bp.route("/dev/outbox")
    def dev_outbox():
        # Every message decided today and yesterday, as its recipient sees it (404 outside the local stage).
        return Response(body=notifications.dev_outbox_page(adapters(), _now()), status_code=200,
                        headers={"Content-Type": "text/html; charset=utf-8"})

    return bp


def register(app: Chalice) -> None:
    """The local-only routes on `app` (the local stack's server, or a test's app)."""
    app.register_blueprint(blueprint())
