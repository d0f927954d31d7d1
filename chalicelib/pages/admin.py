"""Admin pages (mdo_admin, national_admin): the campaigns list, the create form, a campaign's dashboard with its
report as CSV, reminders to the not-started, publishing and cancelling. A learner gets the 403 page.

Every view calls the campaigns use cases (chalicelib/campaigns/service.py) in-process as the signed-in admin, so
the form validates exactly as POST /v1/campaigns does and its errors appear next to the fields; the pages add
only what the API leaves to its caller: which org's dashboard an admin may open (their own subtree), and the
shape of the HTML. See chalicelib/pages/__init__.py for how a page is put together.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Optional
from urllib.parse import urlencode

from chalicelib.campaigns import rules as campaign_rules
from chalicelib.campaigns import scope as campaign_scope, service as campaigns
from chalicelib.campaigns import reports as campaign_reports
from chalicelib.campaigns.rules import Campaign, campaign_config
from chalicelib.errors import ApiError, bad_request
from chalicelib.events import is_id
from chalicelib.identity.access import administers, forbidden
from chalicelib.notifications import campaigns as reminders
from chalicelib.orgtree import parent_lookup
from chalicelib.pages import session as sessions
from chalicelib.pages.components import Column, bar_chart, csv_download, form_errors, sortable
from chalicelib.pages.i18n import Translator
from chalicelib.pages.web import Page, PageRequest, Redirect, language_of

MAX_SCOPE_CHOICES = 200  # orgs listed in the create form's scope selector (an admin's subtree)
MAX_REMINDERS = 50  # learners one reminder form may name: one page of the not-started list
CLOSED = ("closed", "cancelled")


def require_admin(session: sessions.Session) -> None:
    if not session.is_admin:
        raise forbidden("this page is for administrators of an organisation")


def _translator(request: PageRequest, session, adapters) -> Translator:
    return Translator(language_of(session, request.cookies, adapters))


def dashboard_url(campaign_id: str, **query) -> str:
    shown = {k: v for k, v in query.items() if v}
    return f"/admin/campaigns/{campaign_id}" + ("?" + urlencode(shown) if shown else "")


# --- admin home: the campaigns list ---------------------------------------------------------------------

def campaign_rows(listed: list[dict], principal, adapters) -> list[dict]:
    """The campaigns an admin deals with: a national admin every one, an mdo_admin those whose scope contains
    their org or lies inside their subtree (a national week included)."""
    parent_of = parent_lookup(adapters)
    rows = []
    for c in listed:
        kind, ident = campaign_rules.scope_parts(c["scope"])
        mine = principal.has("national_admin") or campaigns.can_manage(principal, c["scope"], adapters) \
            or campaign_scope.in_scope(c["scope"], principal.org_id, parent_of)
        if mine:
            rows.append({**c, "scope_id": ident, "scope_kind": kind})
    names = adapters.orgs.names([r["scope_id"] for r in rows if r["scope_id"]]) if rows else {}
    return [{**r, "scope_name": names.get(r["scope_id"]) or r["scope_id"]} for r in rows]


def admin_home(request: PageRequest, session: sessions.Session, adapters, now) -> Page:
    require_admin(session)
    principal = session.principal
    names = adapters.orgs.names([principal.org_id]) if principal.org_id else {}
    listed = campaigns.list_campaigns({}, principal, adapters)["campaigns"]
    return Page("admin.html", {
        "national": principal.has("national_admin"),
        "org_name": names.get(principal.org_id) or principal.org_id,
        "campaigns": campaign_rows(listed, principal, adapters)}, "admin.title")


# --- the create form ------------------------------------------------------------------------------------

# The API's field (its error's `field`) -> the form's input.
FORM_FIELDS = {"name": "name", "description": "description", "scope": "scope", "start": "start", "end": "end",
               "timezone": "start", "grace_hours": "grace_hours", "goal": "goal_target", "goal.kind": "goal_kind",
               "goal.target": "goal_target", "multiplier": "multiplier", "counts": "counts_courses",
               "counts.courses": "counts_courses", "counts.events": "counts_events",
               "counts.time_spent": "counts_time_spent", "awards.goal_badge": "goal_badge",
               "awards.top_learners_per_org": "top_learners_per_org", "awards.org_awards": "org_awards",
               "awards.org_awards_per_category": "org_awards_per_category", "status": "publish"}
CHECKBOXES = ("counts_courses", "counts_events", "counts_time_spent", "goal_badge", "org_awards")
OTHER_SCOPE = "other"


def scope_choices(principal, adapters) -> list[tuple[str, str]]:
    """(scope, label) an admin may create a campaign for: national (national admins), then their org and every
    org below it, as ministry:/state:/org: by the org's type."""
    choices = [("national", "")] if principal.has("national_admin") else []
    if principal.has("mdo_admin") and principal.org_id:
        found, pending, seen = list[tuple[str, str]](), [principal.org_id], set()
        while pending and len(found) < MAX_SCOPE_CHOICES:
            org_id = pending.pop(0)
            if org_id in seen:
                continue
            seen.add(org_id)
            org = adapters.orgs.get(org_id)
            if org is None:
                continue
            kind = org.type if org.type in ("ministry", "state") else "org"
            found.append((f"{kind}:{org_id}", org.name or org_id))
            pending.extend(sorted(adapters.orgs.children(org_id)))
        choices += found
    return choices


def form_defaults() -> dict:
    config = campaign_config()
    kind = config.goal["kind"]
    return {"name": "", "description": "", "scope": "", "scope_org": "", "start": "", "end": "",
            "goal_kind": kind, "goal_target": str(config.goal[kind]), "grace_hours": str(config.grace_hours),
            "multiplier": "", "top_learners_per_org": str(config.awards["top_learners_per_org"]),
            "org_awards_per_category": str(config.awards["org_awards_per_category"]),
            "counts_courses": bool(config.counts["courses"]), "counts_events": bool(config.counts["events"]),
            "counts_time_spent": bool(config.counts["time_spent"]), "goal_badge": bool(config.awards["goal_badge"]),
            "org_awards": bool(config.awards["org_awards"]), "publish": False}


def _number(text: str):
    """A number typed in a form, as JSON would carry it; anything else is passed on as typed, so that the API's
    own check names the field."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def campaign_body(form: dict) -> dict:
    """The POST /v1/campaigns body the form stands for. Times are IST wall-clock times (datetime-local)."""
    scope = form.get("scope", "")
    if scope == OTHER_SCOPE:
        scope = form.get("scope_org", "").strip()
    body = {"name": form.get("name", ""), "scope": scope, "timezone": "Asia/Kolkata",
            "goal": {"kind": form.get("goal_kind", ""), "target": _number(form.get("goal_target", ""))},
            "grace_hours": _number(form.get("grace_hours", "")),
            "counts": {"courses": "counts_courses" in form, "events": "counts_events" in form,
                       "time_spent": "counts_time_spent" in form},
            "awards": {"goal_badge": "goal_badge" in form, "org_awards": "org_awards" in form,
                       "top_learners_per_org": _number(form.get("top_learners_per_org", "")),
                       "org_awards_per_category": _number(form.get("org_awards_per_category", ""))},
            "status": "scheduled" if "publish" in form else "draft"}
    for name in ("start", "end"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    if form.get("description", "").strip():
        body["description"] = form["description"].strip()
    if form.get("multiplier", "").strip():
        body["multiplier"] = _number(form["multiplier"])
    return body


def _form_page(session, adapters, values: dict, errors: dict, status: int = 200) -> Page:
    principal = session.principal
    choices = scope_choices(principal, adapters)
    return Page("campaign_new.html", {
        "values": values, "errors": errors, "scopes": choices, "national": principal.has("national_admin"),
        "other_scope": OTHER_SCOPE, "goal_kinds": campaign_rules.GOAL_KINDS,
        "max_multiplier": campaign_config().max_multiplier}, "campaign.new_title", status)


def new_campaign(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Page:
    require_admin(session)
    values = form_defaults()
    choices = scope_choices(session.principal, adapters)
    values["scope"] = choices[0][0] if choices else ""
    return _form_page(session, adapters, values, {})


def create_campaign(request: PageRequest, session: sessions.Session, adapters, now: datetime):
    """POST of the form: the API's create use case; its error goes back next to the field it names."""
    require_admin(session)
    form = request.form
    sessions.check_csrf(session, form, request.headers)
    try:
        created = campaigns.create(json.dumps(campaign_body(form)).encode(), session.principal, adapters, now)
    except ApiError as error:
        if error.status not in (400, 403):
            raise
        values = {**form_defaults(), **{k: v for k, v in form.items() if k not in CHECKBOXES and k != "csrf"},
                  **{k: k in form for k in CHECKBOXES}, "publish": "publish" in form}
        field = error.field if error.status == 400 else "scope"  # a 403: the scope is not one they may use
        shown = form_errors(ApiError(400, error.code, error.message, field), FORM_FIELDS)
        return _form_page(session, adapters, values, shown, 400)
    return Redirect(dashboard_url(created["id"]))


# --- the dashboard ------------------------------------------------------------------------------------------

def _campaign(request: PageRequest, session, adapters) -> Campaign:
    # 404 for an unknown id or a draft they may not manage, as GET /v1/campaigns/{id}
    return campaign_rules.from_dict(campaigns.get(request.params.get("campaign_id", ""), session.principal, adapters))


def dashboard_org(campaign: Campaign, asked: Optional[str], principal, adapters) -> Optional[str]:
    """Which org's dashboard to show: the one asked for, else the campaign's own org if the admin administers
    it, else the admin's own org; None for a national campaign seen by a national admin who has not picked one.
    An admin sees only orgs they administer (403 otherwise)."""
    parent_of = parent_lookup(adapters)
    _, ident = campaign_rules.scope_parts(campaign.scope)
    org_id = asked or None
    if org_id is None:
        if ident and administers(principal, ident, parent_of):
            org_id = ident
        elif principal.has("mdo_admin") and principal.org_id \
                and campaign_scope.in_scope(campaign.scope, principal.org_id, parent_of):
            org_id = principal.org_id
        else:
            org_id = ident
    if org_id is None:
        return None
    if not is_id(org_id) or not administers(principal, org_id, parent_of):
        raise forbidden("you may only see the dashboards of organisations you administer")
    return org_id


def sub_org_columns() -> tuple[Column, ...]:
    return (Column("name", "orgs.org"), Column("headcount", "orgs.headcount", True),
            Column("participants", "orgs.participants", True),
            Column("participation_percent", "campaign.participation", True),
            Column("goal_met_percent", "campaign.goal_met_percent", True), Column("hours", "campaign.hours", True))


def _percent_text(t: Translator, value: Optional[float]) -> str:
    return "—" if value is None else t.percent(value / 100)


def dashboard(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Page:
    require_admin(session)
    principal = session.principal
    campaign = _campaign(request, session, adapters)
    t = _translator(request, session, adapters)
    org_id = dashboard_org(campaign, request.query.get("org_id"), principal, adapters)
    _, scope_org = campaign_rules.scope_parts(campaign.scope)
    wanted = [o for o in (scope_org, org_id) if o]
    names = adapters.orgs.names(wanted) if wanted else {}  # one batch read for both names
    context = {"campaign": campaign_rules.as_dict(campaign), "org_id": org_id, "board": None,
               "scope_name": names.get(scope_org) or campaign.scope,
               "can_manage": campaigns.can_manage(principal, campaign.scope, adapters),
               "report_url": f"/admin/campaigns/{campaign.id}/report.csv", "closed": campaign.status in CLOSED,
               "reminded": request.query.get("reminded")}
    if org_id is None:
        return Page("campaign.html", context, "campaign.title")
    query = {"org_id": org_id, **{k: request.query[k] for k in ("cursor",) if request.query.get(k)}}
    board = campaign_reports.dashboard(campaign.id, query, principal, adapters)
    sub_orgs = [{**o, "name": o["name"] or o["org_id"],
                 "href": dashboard_url(campaign.id, org_id=o["org_id"])} for o in board["sub_orgs"]]
    rows, headers = sortable(sub_orgs, sub_org_columns(), request.query, "name")
    chart = bar_chart(t("campaign.chart"), [(t.day(d["date"]), d["minutes"] / 60) for d in board["days"]],
                      lambda v: t("campaign.hours_value", n=t.number(round(v, 1))), width=400)
    not_started = board["not_started"] or {"employees": [], "next_cursor": None}
    return Page("campaign.html", {
        **context, "board": board, "org_name": names.get(org_id) or org_id, "sub_orgs": rows,
        "sub_org_headers": headers, "chart": chart, "percent": lambda v: _percent_text(t, v),
        "not_started": not_started["employees"],
        "next_page": dashboard_url(campaign.id, org_id=org_id, cursor=not_started["next_cursor"])
        if not_started["next_cursor"] else None,
        "first_page": dashboard_url(campaign.id, org_id=org_id) if request.query.get("cursor") else None,
        "remind_all": ",".join(e["learner_id"] for e in not_started["employees"])}, "campaign.title")


def report_csv(request: PageRequest, session: sessions.Session, adapters, now: datetime):
    """The campaign's report (the same use case as GET /v1/campaigns/{id}/report) as a CSV file."""
    require_admin(session)
    campaign = _campaign(request, session, adapters)
    rows = campaign_reports.report(campaign.id, {"format": "json"}, session.principal, adapters)["orgs"]
    columns = campaign_reports.REPORT_COLUMNS
    return csv_download(f"campaign-{campaign.id}-report.csv", columns, [[r[c] for c in columns] for r in rows])


# --- actions: reminders, publish, cancel ------------------------------------------------------------------

def queue_reminders(campaign: Campaign, learner_ids: list[str], session: sessions.Session, adapters,
                    now: datetime) -> int:
    """Queue a "start your learning" nudge to each of these not-started employees, through the notification
    outbox and its caps; returns how many were queued (a learner at a cap, or already reminded for this
    campaign, is skipped). The page has checked that the admin administers each learner's org."""
    return reminders.remind_not_started(campaign.id, learner_ids, adapters, now)


def remind(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Redirect:
    require_admin(session)
    form = request.form
    sessions.check_csrf(session, form, request.headers)
    campaign = _campaign(request, session, adapters)
    ids = list(dict.fromkeys(i.strip() for i in form.get("learner_ids", "").split(",") if i.strip()))
    if not ids or len(ids) > MAX_REMINDERS or not all(map(is_id, ids)):
        raise bad_request("learner_ids", f"must name 1 to {MAX_REMINDERS} learners")
    if campaign.status in CLOSED:
        raise ApiError(409, "conflict", f"the campaign is {campaign.status}: no reminders", "learner_ids")
    employees = adapters.rosters.get_many(ids)
    parent_of = parent_lookup(adapters)
    for learner_id in ids:
        employee = employees.get(learner_id)
        if employee is None or not administers(session.principal, employee.org_id, parent_of):
            raise forbidden("you may only remind employees of organisations you administer")
    sent = queue_reminders(campaign, ids, session, adapters, now)
    return Redirect(dashboard_url(campaign.id, org_id=form.get("org_id") or None, reminded=str(sent)))


def change_status(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Redirect:
    """Publish a draft (PATCH status scheduled) or cancel, through the same use cases as the API."""
    require_admin(session)
    form = request.form
    sessions.check_csrf(session, form, request.headers)
    campaign_id = request.params.get("campaign_id", "")
    action = form.get("action")
    if action == "publish":
        campaigns.update(campaign_id, b'{"status": "scheduled"}', session.principal, adapters)
    elif action == "cancel":
        campaigns.cancel(campaign_id, session.principal, adapters)
    else:
        raise bad_request("action", "must be publish or cancel")
    return Redirect(dashboard_url(campaign_id))

