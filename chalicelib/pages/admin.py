"""Admin pages (mdo_admin, national_admin). A learner gets the 403 page.

The campaign pages (issue 5) go here, on top of the shared pieces: layout.html (nav shows Admin to admins
only), components.html (form fields with the API's errors, bar chart with its table, sortable table, CSV link)
and components.py (form_errors, bar_chart, sortable, csv_download). See chalicelib/pages/__init__.py.
"""
from __future__ import annotations

from chalicelib.identity.access import forbidden
from chalicelib.pages import session as sessions
from chalicelib.pages.web import Page, PageRequest


def require_admin(session: sessions.Session) -> None:
    if not session.is_admin:
        raise forbidden("this page is for administrators of an organisation")


def admin_home(request: PageRequest, session: sessions.Session, adapters, now) -> Page:
    require_admin(session)
    principal = session.principal
    names = adapters.orgs.names([principal.org_id]) if principal.org_id else {}
    return Page("admin.html", {
        "national": principal.has("national_admin"),
        "org_name": names.get(principal.org_id) or principal.org_id,
        # CAMPAIGN SLOT (issue 5): the admin's campaigns list goes here (admin.html renders `campaigns`).
        "campaigns": None}, "admin.title")
