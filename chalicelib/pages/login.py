"""Signing out: the session cookie cleared (the CSRF token checked first).

Signing in is the platform's business; the local stack's shortcut sign-in page (`/login`, a demo learner or
admin) is local/dev_routes.py, which only the local stack registers. After signing out locally, that page.
"""
from __future__ import annotations

from chalicelib.pages import session as sessions
from chalicelib.pages.web import PageRequest, Redirect


def sign_out(request: PageRequest, session: sessions.Session, adapters, now) -> Redirect:
    sessions.check_csrf(session, request.form, request.headers)
    return Redirect("/login" if sessions.is_local() else "/", sessions.cleared_session_cookie())
