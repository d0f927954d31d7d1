"""Learner pages: my progress, the leaderboard and the org boards. Each view calls the same use cases as the API
(in-process), as the signed-in caller, so what a page shows is exactly what the API would answer them."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Optional
from urllib.parse import quote

from chalicelib.campaigns import rules as campaign_rules
from chalicelib.campaigns import scope as campaign_scope
from chalicelib.credentials import service as credentials
from chalicelib.errors import ApiError
from chalicelib.leaderboards import service as leaderboards
from chalicelib.leaderboards.boards import Scope
from chalicelib.learners import preferences
from chalicelib.learners import service as learners
from chalicelib.pages import session as sessions
from chalicelib.orgtree import parent_lookup
from chalicelib.pages.components import Column, Download, bar_chart, csv_download, movement, sortable
from chalicelib.pages.i18n import UI_LANGUAGES, Translator
from chalicelib.pages.web import Page, PageRequest, Redirect, language_of, learner_record, not_found_page
from chalicelib.rules.periods import utc_iso

PERIODS = ("week", "month", "all")
LEDGER_SHOWN = 10
NEXT_BADGES_SHOWN = 8  # one per metric: every metric has its next step shown


def credential_url(learner_id: str, badge_id: str) -> str:
    """The page of one award's Open Badges credential (the API's route wants a bearer token a browser has not)."""
    return f"/me/badges/{quote(badge_id, safe='')}/credential"


def campaign_goals(record, adapters, now: datetime) -> list[dict]:
    """The learner's live campaigns (published, the clock inside the window, scope containing their org) with
    their progress toward the goal, for me.html: [{"name", "minutes_done", "minutes_goal", "ends_at" (UTC ISO),
    "kind"}] (for a goal in courses, the two figures are courses). Definitions come from the cache scoring
    uses; the progress records are one batch read."""
    org_id = record.standing.profile.org_id
    if not org_id:
        return []
    parent_of = parent_lookup(adapters)
    live = [c for c in campaign_scope.cached_campaigns(adapters)
            if c.status in campaign_rules.ACTIVE and campaign_rules.due_status(c, now) == "live"
            and campaign_scope.in_scope(c.scope, org_id, parent_of)]
    if not live:
        return []
    learner_id = record.standing.learner_id
    stored = adapters.campaigns.progress([(c.id, learner_id) for c in live])
    goals = []
    for c in sorted(live, key=lambda c: (c.end, c.id)):
        found = stored.get((c.id, learner_id))
        p = found.progress if found else None
        done = (p.minutes if c.goal.kind == "minutes" else p.courses) if p else 0
        goals.append({"name": c.name, "minutes_done": min(done, c.goal.target), "minutes_goal": c.goal.target,
                      "done": done, "ends_at": utc_iso(c.end), "kind": c.goal.kind})
    return goals


# --- my progress ---------------------------------------------------------------------------------------

def _period_kind(period: str) -> str:
    return period.split(":", 1)[0]


def rank_rows(ranks: list[dict]) -> list[dict]:
    """The summary's ranks as one row per scope with a cell per period (week, month, all time)."""
    rows: dict[str, dict] = {}
    for r in ranks:
        kind = _period_kind(r["period"])
        move, places = movement(r["rank"], r["previous_rank"]) if kind != "all" else ("", 0)
        row = rows.setdefault(r["scope"], {"scope": r["scope"], "kind": r["scope"].split(":", 1)[0], "cells": {}})
        row["cells"][kind] = {"rank": r["rank"], "points": r["points"], "move": move, "places": places}
    return list(rows.values())


def next_badges(standing, catalogue) -> list[dict]:
    """For each metric, the lowest badge not yet earned, with how far the learner is; closest first."""
    lowest: dict = {}
    for badge in catalogue:
        if badge.id in standing.badges:
            continue
        if badge.metric not in lowest or badge.threshold < lowest[badge.metric].threshold:
            lowest[badge.metric] = badge
    upcoming = [{"id": b.id, "name": b.name, "description": b.description, "level": b.level,
                 "have": min(standing.metric(b.metric), b.threshold), "need": b.threshold}
                for b in lowest.values()]
    upcoming.sort(key=lambda b: (-b["have"] / b["need"], b["need"], b["id"]))
    return upcoming[:NEXT_BADGES_SHOWN]


def ledger_lines(entries: list[dict]) -> list[dict]:
    """Ledger entries in plain words: what happened (the rule, translated), the note, and the points."""
    return [{**e, "rule_key": f"rule.{e['rule']}" if e["rule"] in _RULES else "rule.other"} for e in entries]


_RULES = ("course_completion", "assessment_passed", "acbp_bonus", "first_enrolment", "course_rating",
          "event_attended", "first_login")


def my_progress(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Page:
    record = learner_record(session, adapters)
    if record is None:
        return Page("me.html", {"summary": None}, "me.title")
    principal = session.principal
    summary = learners.summary_of(record, adapters, now)
    ledger = learners.ledger_page(principal.sub, principal, adapters, str(LEDGER_SHOWN), None)["entries"]
    return Page("me.html", {
        "summary": summary, "rank_rows": rank_rows(summary["ranks"]), "periods": PERIODS,
        "next_badges": next_badges(record.standing, adapters.catalogue),
        "credential_url": credential_url, "ledger": ledger_lines(ledger),
        "campaigns": campaign_goals(record, adapters, now)}, "me.title")


# --- leaderboard ---------------------------------------------------------------------------------------

def _my_scopes(session, adapters) -> list[Scope]:
    record = learner_record(session, adapters)
    org = record.standing.profile.org_id if record else None
    return leaderboards.scopes_of(org, adapters) if org else [Scope("national", None)]


def _pick(value: Optional[str], allowed, default: str, field: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise ApiError(400, "invalid_request", f"must be one of {', '.join(allowed)}", field)
    return value


def board_rows(entries: list[dict], me: str, period: str) -> list[dict]:
    rows, previous = [], None
    for e in entries:
        move, places = movement(e["rank"], e["previous_rank"]) if period != "all" else ("", 0)
        gap = previous is not None and e["rank"] is not None and e["rank"] - previous > 1
        rows.append({**e, "me": e["learner_id"] == me, "move": move, "places": places, "gap_before": gap})
        previous = e["rank"]
    return rows


def leaderboard(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Page:
    scopes = {s.kind: s for s in _my_scopes(session, adapters)}
    kind = _pick(request.query.get("scope"), list(scopes), "org" if "org" in scopes else "national", "scope")
    period = _pick(request.query.get("period"), PERIODS, "week", "period")
    principal = session.principal
    query = {"scope": scopes[kind].key, "period": period}
    top = leaderboards.learner_board({**query, "limit": "10"}, adapters, now, principal)
    around = None
    if learner_record(session, adapters) is not None:
        around = leaderboards.learner_board({**query, "around": principal.sub}, adapters, now, principal)
    me_ranked = bool(around and any(e["learner_id"] == principal.sub for e in around["entries"]))
    return Page("leaderboard.html", {
        "scopes": list(scopes), "scope": kind, "periods": PERIODS, "period": period, "total": top["total"],
        "top": board_rows(top["entries"], principal.sub, period),
        "around": board_rows(around["entries"], principal.sub, period) if me_ranked else None,
        "show_not_ranked": around is not None and not me_ranked}, "board.title")


# --- org boards -----------------------------------------------------------------------------------------

def org_columns(metric: str) -> tuple[Column, ...]:
    return (Column("rank", "board.rank", True), Column("name", "orgs.org"),
            Column("headcount", "orgs.headcount", True), Column("participants", "orgs.participants", True),
            Column("value", f"orgs.{metric}", True))


def _org_query(request: PageRequest, session, adapters) -> tuple[dict, dict]:
    scopes = {s.kind: s for s in _my_scopes(session, adapters) if s.kind != "org"}
    scopes.setdefault("national", Scope("national", None))
    kind = _pick(request.query.get("scope"), list(scopes), "national", "scope")
    period = _pick(request.query.get("period"), PERIODS, "month", "period")
    metric = _pick(request.query.get("metric"), leaderboards.METRICS, "participation", "metric")
    return ({"scope": scopes[kind].key, "period": period, "metric": metric, "limit": "20"},
            {"scopes": list(scopes), "scope": kind, "period": period, "metric": metric})


def _value_text(t: Translator, metric: str):
    if metric == "participation":
        return t.percent
    return lambda v: t.number(round(v, 1))


def org_boards(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Page:
    query, chosen = _org_query(request, session, adapters)
    board = leaderboards.org_board(query, adapters, now)
    t = Translator(language_of(session, request.cookies, adapters))
    text = _value_text(t, chosen["metric"])
    categories = []
    for n, category in enumerate(board["categories"]):
        rows = [{**o, "name": o["name"] or o["org_id"], "value_text": text(o["value"])} for o in category["orgs"]]
        rows, headers = sortable(rows, org_columns(chosen["metric"]), request.query, "rank", prefix=f"c{n}")
        chart = bar_chart(t("orgs.chart", metric=t(f"orgs.{chosen['metric']}")),
                          [(r["name"], r["value"]) for r in sorted(rows, key=lambda r: r["rank"])], text)
        categories.append({**category, "rows": rows, "headers": headers, "chart": chart, "id": f"c{n}"})
    csv_query = {k: v for k, v in chosen.items() if k != "scopes"}
    return Page("orgs.html", {**chosen, "periods": PERIODS, "metrics": leaderboards.METRICS,
                              "categories": categories, "hidden": board["hidden_small_orgs"],
                              "csv_query": csv_query}, "orgs.title")


def org_boards_csv(request: PageRequest, session: sessions.Session, adapters, now: datetime):
    query, chosen = _org_query(request, session, adapters)
    board = leaderboards.org_board(query, adapters, now)
    rows = [(c["category"], o["rank"], o["org_id"], o["name"] or "", o["headcount"], o["participants"], o["points"],
             o["hours"], o["value"]) for c in board["categories"] for o in c["orgs"]]
    return csv_download(f"org-board-{chosen['scope']}-{board['period']}-{chosen['metric']}.csv",
                        ["size", "rank", "org_id", "name", "headcount", "participants", "points", "hours",
                         chosen["metric"]], rows)


# --- language switch -----------------------------------------------------------------------------------

def switch_language(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Redirect:
    """Saved in the learner's preferences (the whole document, as PUT replaces it), and in a cookie for callers
    with no learner record (admins)."""
    form = request.form
    sessions.check_csrf(session, form, request.headers)
    language = form.get("language", "")
    if language not in UI_LANGUAGES:
        raise ApiError(400, "invalid_request", f"must be one of {', '.join(UI_LANGUAGES)}", "language")
    record = learner_record(session, adapters)
    if record is not None:
        principal = session.principal
        current = preferences.get_preferences(principal.sub, principal, adapters)
        preferences.put_preferences(principal.sub, principal, adapters,
                                    json.dumps({**current, "language": language}).encode())
    return Redirect(sessions.safe_next(form.get("next")),
                    sessions.cookie(sessions.LANGUAGE_COOKIE, language, 365 * 24 * 3600))


# --- my badge's credential --------------------------------------------------------------------------------

def _my_credential(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> dict:
    """The signed-in learner's credential for one of their badges: issued on first request, the same after
    (the credentials use case behind GET /v1/learners/{id}/badges/{badge}/credential)."""
    if learner_record(session, adapters) is None:
        raise not_found_page("badge")
    principal = session.principal
    return credentials.credential_for_award(principal.sub, request.params.get("badge_id", ""), principal, adapters,
                                            now)


def my_credential(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Page:
    issued = _my_credential(request, session, adapters, now)
    credential = issued["credential"]
    return Page("credential.html", {
        "issued": issued, "achievement": credential["credentialSubject"]["achievement"],
        "issuer": credential["issuer"]["name"], "valid_from": credential.get("validFrom"),
        "public_path": f"/credentials/{issued['credential_id']}",
        "download_path": f"{request.path}.json"}, "credential.title")


def my_credential_json(request: PageRequest, session: sessions.Session, adapters, now: datetime) -> Download:
    issued = _my_credential(request, session, adapters, now)
    body = json.dumps(issued, ensure_ascii=False, indent=2)
    return Download(body, f"credential-{issued['credential_id']}.json", "application/json; charset=utf-8")
