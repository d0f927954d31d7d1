"""Campaign use cases: manage campaigns, keep progress and statistics in step with scoring, drive the lifecycle,
read progress, dashboards, boards and reports, and close a campaign once.

Lifecycle: POST creates a draft (or, with "status": "scheduled", a published campaign); PATCH "status":
"scheduled" publishes a draft. The schedule (advance) moves published campaigns scheduled -> live -> closing
by the clock, each step a conditional write so that it happens once; once the grace period is over, closing
freezes the results, awards learners page by page from a cursor, and sets closed.
"""
from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import EDITABLE, Campaign, as_dict, campaign_config
from chalicelib.errors import ApiError, bad_request, not_found, json_object
from chalicelib.events import ID_PATTERN, is_id
from chalicelib.exports import to_csv
from chalicelib.identity.access import administers, forbidden, require_learner_access, within
from chalicelib.leaderboards import service as leaderboards
from chalicelib.leaderboards.boards import Scope, board_key
from chalicelib.orgtree import parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.rules.periods import utc_iso
from chalicelib.campaigns.scope import (board_scope, forget_campaigns, in_scope,
                                       org_type, subtree_of)
from chalicelib.campaigns.store import Award, list_key
from chalicelib.facts import DomainEvent

NOT_STARTED_CURSOR = r"\d{1,6}\|(" + ID_PATTERN + ")?"


def conflict(message: str, field: Optional[str] = None) -> ApiError:
    return ApiError(409, "conflict", message, field)


# --- access ---------------------------------------------------------------------------------------------

def can_manage(principal, scope: str, adapters) -> bool:
    if principal.has("national_admin"):
        return True
    kind, ident = rules.scope_parts(scope)
    return kind != "national" and principal.has("mdo_admin") and within(ident, principal.org_id,
                                                                         parent_lookup(adapters))


def _require_manage(principal, scope: str, adapters) -> None:
    if not can_manage(principal, scope, adapters):
        raise forbidden("only a national admin, or an admin of an org containing the scope, may manage this campaign")


def _readable(campaign_id: str, principal, adapters) -> Campaign:
    campaign = adapters.campaigns.get(campaign_id) if is_id(campaign_id) else None
    if campaign is None or (campaign.status == "draft" and not can_manage(principal, campaign.scope, adapters)):
        raise not_found(f"campaign {campaign_id[:128]}")
    return campaign


# --- managing campaigns --------------------------------------------------------------------------------

def _check_scope_exists(scope: str, adapters) -> None:
    kind, ident = rules.scope_parts(scope)
    if kind == "national":
        return
    org = adapters.orgs.get(ident)
    if org is None:
        raise bad_request("scope", f"no org {ident} is known")
    if kind in ("ministry", "state") and org.type != kind:
        raise bad_request("scope", f"{ident} is a {org.type}, not a {kind}")


def create(raw_body, principal, adapters, now: datetime) -> dict:
    campaign = rules.definition_from(json_object(raw_body), campaign_config(), campaign_id=f"cmp-{uuid.uuid4().hex[:12]}", now=now)
    _check_scope_exists(campaign.scope, adapters)
    _require_manage(principal, campaign.scope, adapters)
    campaign = replace(campaign, created_by=principal.sub)
    config = campaign_config()
    day = now.astimezone(ZoneInfo(config.timezone)).date().isoformat()
    if not adapters.campaigns.take_creation(f"campaign-creations#{principal.sub}#{day}",
                                            config.max_created_per_admin_per_day):
        raise ApiError(429, "too_many_campaigns", f"one admin may create at most "
                       f"{config.max_created_per_admin_per_day} campaigns a day (max_created_per_admin_per_day)",
                       "body")
    adapters.campaigns.create(campaign)
    forget_campaigns(adapters)
    return as_dict(campaign)


LIST_CURSOR = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#" + ID_PATTERN  # campaigns/store.py list_key


def list_campaigns(query: dict, principal, adapters) -> dict:
    scope = rules.parse_scope(query["scope"]) if query.get("scope") else None
    status = query.get("status")
    if status is not None and status not in rules.STATUSES:
        raise bad_request("status", f"must be one of {', '.join(rules.STATUSES)}")
    limit = parse_limit(query.get("limit"), 50, adapters.limits.max_page_size)
    before = decode_cursor(query["cursor"], LIST_CURSOR) if query.get("cursor") else None
    statuses = [status] if status else list(rules.STATUSES)
    if not (principal.has("national_admin") or principal.has("mdo_admin")):
        statuses = [s for s in statuses if s != "draft"]  # drafts are only ever shown to their managers
    page = adapters.campaigns.listing(scope, statuses, before, limit + 1)
    more, page = len(page) > limit, page[:limit]
    # A draft the caller may not manage is left out of its page: a shorter page with a cursor may follow.
    shown = [c for c in page if c.status != "draft" or can_manage(principal, c.scope, adapters)]
    return {"campaigns": [as_dict(c) for c in shown],
            "next_cursor": encode_cursor(list_key(page[-1])) if more else None}


def get(campaign_id: str, principal, adapters) -> dict:
    return as_dict(_readable(campaign_id, principal, adapters))


def update(campaign_id: str, raw_body, principal, adapters) -> dict:
    before = _readable(campaign_id, principal, adapters)
    _require_manage(principal, before.scope, adapters)
    after = rules.definition_from(json_object(raw_body), campaign_config(), existing=before)
    if after.scope != before.scope:
        _check_scope_exists(after.scope, adapters)
        _require_manage(principal, after.scope, adapters)
    if before.status not in EDITABLE:
        changed = {k for k in ("scope", "multiplier", "awards") if getattr(after, k) != getattr(before, k)}
        if rules.window_or_goal_changed(before, after) or changed:
            raise conflict(f"a {before.status} campaign can change only its name and description")
    if not adapters.campaigns.replace(after, before.status):
        raise conflict("the campaign changed meanwhile: read it again")
    forget_campaigns(adapters)
    return as_dict(after)


def cancel(campaign_id: str, principal, adapters) -> dict:
    campaign = _readable(campaign_id, principal, adapters)
    _require_manage(principal, campaign.scope, adapters)
    if campaign.status in ("closed", "cancelled"):
        raise conflict(f"a {campaign.status} campaign cannot be cancelled")
    if not adapters.campaigns.set_status(campaign.id, campaign.status, "cancelled"):
        raise conflict("the campaign changed meanwhile: read it again")
    forget_campaigns(adapters)
    return as_dict(replace(campaign, status="cancelled"))


# --- the schedule ----------------------------------------------------------------------------------------

ORDER = ("scheduled", "live", "closing")


def advance(adapters, now: datetime, log=None, budget_seconds: Optional[float] = None) -> dict:
    """Move every published campaign to where the clock says, one conditional step at a time (a second or
    late run finds nothing to do), and close those past their grace period. Returns what it did."""
    done: dict[str, list[str]] = {}
    for campaign in adapters.campaigns.all():
        status = campaign.status
        target = rules.due_status(campaign, now)
        while status in ORDER and ORDER.index(status) < ORDER.index(target):
            following = ORDER[ORDER.index(status) + 1]
            if adapters.campaigns.set_status(campaign.id, status, following):
                done.setdefault(campaign.id, []).append(following)
            status = following
        if status == "closing" and now >= campaign.closes_at:
            if close(replace(campaign, status=status), adapters, now, budget_seconds):
                done.setdefault(campaign.id, []).append("closed")
    if done:
        forget_campaigns(adapters)
    return done


# --- reading progress, dashboards, boards, reports -----------------------------------------------------------

def _org_shards(org_id: str, adapters) -> int:
    return campaign_config().shards_for(org_type(org_id, parent_lookup(adapters)))


def learner_progress(campaign_id: str, learner_id: Optional[str], principal, adapters) -> dict:
    campaign = _readable(campaign_id, principal, adapters)
    learner_id = learner_id or principal.sub
    if not is_id(learner_id):
        raise bad_request("learner_id", "is not a learner id")
    stored = adapters.campaigns.progress([(campaign.id, learner_id)]).get((campaign.id, learner_id))
    learner = adapters.learners.get(learner_id)
    employee = None if stored or learner else adapters.rosters.get(learner_id)  # known only from a roster
    org_id = stored.progress.org_id if stored else (learner.standing.profile.org_id if learner
                                                    else (employee.org_id if employee else None))
    if principal.sub != learner_id:
        require_learner_access(principal, learner_id, org_id, parent_lookup(adapters))
    p = stored.progress if stored else None
    rank = None
    if p and p.org_id:
        rank = rules.rank_in(p.score, adapters.boards.scores(board_key(Scope("org", p.org_id), campaign.period)))
    awards = [a.badge_id for a in adapters.campaigns.awards_of(learner_id) if a.campaign_id == campaign.id]
    return {"campaign_id": campaign.id, "learner_id": learner_id, "org_id": org_id,
            "goal": {"kind": campaign.goal.kind, "target": campaign.goal.target},
            "score": p.score if p else 0, "minutes": p.minutes if p else 0, "courses": p.courses if p else 0,
            "events_attended": p.events_attended if p else 0, "percent": rules.percent(p, campaign.goal),
            "goal_met": bool(p and p.goal_met), "goal_met_at": utc_iso(p.goal_met_at) if p and p.goal_met_at else None,
            "rank_in_org": rank,
            "days": [{"date": d, "minutes": m, "courses": c} for d, m, c in (p.days if p else ())],
            "awards": awards}


def _dashboard_org(campaign: Campaign, org_id: Optional[str], adapters) -> str:
    kind, ident = rules.scope_parts(campaign.scope)
    org_id = org_id or ident
    if not org_id:
        raise bad_request("org_id", "is required for a national campaign")
    if not is_id(org_id) or adapters.orgs.get(org_id) is None:
        raise bad_request("org_id", "no such org")
    if not in_scope(campaign.scope, org_id, parent_lookup(adapters)):
        raise bad_request("org_id", "is not in the campaign's scope")
    return org_id


def _percent(part: int, whole: int) -> Optional[float]:
    return round(100.0 * part / whole, 1) if whole else None


def dashboard(campaign_id: str, query: dict, principal, adapters) -> dict:
    campaign = _readable(campaign_id, principal, adapters)
    org_id = _dashboard_org(campaign, query.get("org_id"), adapters)
    parent_of = parent_lookup(adapters)
    admin = administers(principal, org_id, parent_of)
    subtree = subtree_of(org_id, adapters)
    own = adapters.rosters.headcounts(subtree)
    children = adapters.orgs.children(org_id)
    child_trees = {child: subtree_of(child, adapters) for child in children}  # already walked: cheap with a cache
    stats = adapters.campaigns.stats(campaign.id, org_id, _org_shards(org_id, adapters))
    total = stats.get("total", Counter())
    headcount = sum(own.values())
    child_totals = adapters.campaigns.totals(campaign.id, {c: _org_shards(c, adapters) for c in children}, "total") \
        if children else {}
    names = adapters.orgs.names(children) if children else {}
    sub_orgs = []
    for child in sorted(children):
        t, heads = child_totals.get(child, Counter()), sum(own.get(o, 0) for o in child_trees[child])
        sub_orgs.append({"org_id": child, "name": names.get(child), "headcount": heads,
                         "participants": t["participants"], "goal_met": t["goal_met"],
                         "participation_percent": _percent(t["participants"], heads),
                         "goal_met_percent": _percent(t["goal_met"], heads), "hours": round(t["minutes"] / 60, 1)})
    top = leaderboards.board_page(board_scope(org_id, parent_of), campaign.period,
                                  {"limit": str(campaign_config().operation["dashboard_top_learners"])},
                                  adapters, principal)
    days = sorted((b[4:], c) for b, c in stats.items() if b.startswith("day:"))
    body = {"campaign_id": campaign.id, "org_id": org_id, "status": campaign.status, "headcount": headcount,
            "participants": total["participants"], "participation_percent": _percent(total["participants"], headcount),
            "goal_met": total["goal_met"], "goal_met_percent": _percent(total["goal_met"], headcount),
            "completions": total["courses"], "minutes": total["minutes"], "hours": round(total["minutes"] / 60, 1),
            "days": [{"date": d, "active": c["active"], "minutes": c["minutes"], "courses": c["courses"]}
                     for d, c in days],
            "sub_orgs": sub_orgs, "top_learners": top["entries"], "not_started": None}
    if admin:
        body["not_started"] = not_started(campaign, subtree, query, adapters)
    return body


def goal_met_in(campaign: Campaign, org_id: str, adapters) -> int:
    """Learners of the org's subtree who met the campaign's goal so far (the dashboard's figure; a few reads)."""
    stats = adapters.campaigns.stats(campaign.id, org_id, _org_shards(org_id, adapters))
    return int(stats.get("total", Counter())["goal_met"])


def not_started(campaign: Campaign, subtree: list[str], query: dict, adapters) -> dict:
    """Roster employees of the subtree with no progress, in (org, learner id) order; a cursor continues."""
    operation = campaign_config().operation
    limit = parse_limit(query.get("limit"), operation["not_started_page_size"], adapters.limits.max_page_size)
    orgs = sorted(subtree)
    index, after = 0, None
    if query.get("cursor"):
        position = decode_cursor(query["cursor"], NOT_STARTED_CURSOR)
        start, _, after = position.partition("|")
        index, after = int(start), (after or None)
    found: list = []
    for _ in range(operation["not_started_scan_pages"]):
        if index >= len(orgs) or len(found) >= limit:
            break
        page, next_after = adapters.rosters.employees(orgs[index], limit - len(found), after)
        started = adapters.campaigns.progress([(campaign.id, e.learner_id) for e in page]) if page else {}
        for e in page:
            if (campaign.id, e.learner_id) not in started:
                found.append({"learner_id": e.learner_id, "org_id": e.org_id, "name": e.name,
                              "designation": e.designation, "group": e.group})
        if next_after is None:
            index, after = index + 1, None
        else:
            after = next_after
    more = index < len(orgs)
    return {"employees": found, "next_cursor": encode_cursor(f"{index}|{after or ''}") if more else None}


def learner_board(campaign_id: str, query: dict, principal, adapters) -> dict:
    campaign = _readable(campaign_id, principal, adapters)
    kind, ident = rules.scope_parts(campaign.scope)
    scope = leaderboards.resolve_scope(query["scope"]) if query.get("scope") else \
        board_scope(ident, parent_lookup(adapters))
    return leaderboards.board_page(scope, campaign.period, query, adapters, principal)


def _roster_headcounts(adapters):
    def headcount_of(seen: dict[str, int]) -> dict[str, int]:
        roster = adapters.rosters.headcounts(list(seen)) if seen else {}
        return {org: roster.get(org) or n for org, n in seen.items()}  # no roster yet: the learners seen
    return headcount_of


def org_board(campaign_id: str, query: dict, principal, adapters) -> dict:
    campaign = _readable(campaign_id, principal, adapters)
    kind, ident = rules.scope_parts(campaign.scope)
    scope = leaderboards.resolve_scope(query["scope"], allowed=("ministry", "state", "dept", "national")) \
        if query.get("scope") else board_scope(ident, parent_lookup(adapters))
    if scope.kind == "org":
        raise bad_request("scope", "an org campaign has no org board: use the dashboard's sub_orgs")
    return leaderboards.org_board_of(scope, campaign.period, query, adapters, _roster_headcounts(adapters))


REPORT_COLUMNS = ("org_id", "name", "headcount", "participants", "goal_met", "goal_met_percent",
                  "participation_percent", "hours", "size_category", "rank_in_category", "award")


def _org_rows(campaign: Campaign, adapters) -> list[dict]:
    """Per org with participants (each learner counted in their own org): the report's rows."""
    participating = {s.org_id: s for s in adapters.boards.org_stats(campaign.period) if s.learners > 0}
    # "own" buckets live in shard 0 (campaigns/store.py): one batch read, no org-type lookups.
    own = adapters.campaigns.totals(campaign.id, {o: 1 for o in participating}, "own") if participating else {}
    headcounts = _roster_headcounts(adapters)(
        {s.org_id: s.learners for s in adapters.boards.org_stats(leaderboards.MEMBERS) if s.org_id in participating})
    config = adapters.boards.config
    rows = [rules.OrgRow(org, headcounts.get(org, 0), own.get(org, Counter())["participants"],
                         own.get(org, Counter())["goal_met"], own.get(org, Counter())["minutes"],
                         own.get(org, Counter())["courses"]) for org in participating]
    ranked = rules.rank_orgs(rows, config.size_categories, config.max_hidden_org_learners, campaign.awards)
    names = adapters.orgs.names([r.org_id for r in ranked]) if ranked else {}
    return [{"org_id": r.org_id, "name": names.get(r.org_id), "headcount": r.headcount,
             "participants": r.participants, "goal_met": r.goal_met,
             "goal_met_percent": _percent(r.goal_met, r.headcount),
             "participation_percent": _percent(r.participants, r.headcount), "hours": round(r.minutes / 60, 1),
             "size_category": r.category, "rank_in_category": r.rank_in_category, "award": r.award}
            for r in ranked]


def report(campaign_id: str, query: dict, principal, adapters):
    campaign = _readable(campaign_id, principal, adapters)
    _require_manage_or_view_report(principal, campaign, adapters)
    fmt = query.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise bad_request("format", "must be json or csv")
    frozen = campaign.status == "closed"
    rows = adapters.campaigns.report_rows(campaign.id) if frozen else _org_rows(campaign, adapters)
    rows = sorted(rows, key=lambda r: (r["size_category"] or "~", r["rank_in_category"] or 0, r["org_id"]))
    if fmt == "csv":
        return to_csv(REPORT_COLUMNS, [[r[c] for c in REPORT_COLUMNS] for r in rows])
    return {"campaign_id": campaign.id, "status": campaign.status, "frozen": frozen, "orgs": rows}


def _require_manage_or_view_report(principal, campaign: Campaign, adapters) -> None:
    """Reports compare orgs: admins (of an org in the scope, or national) see them, learners do not."""
    kind, ident = rules.scope_parts(campaign.scope)
    if principal.has("national_admin") or can_manage(principal, campaign.scope, adapters):
        return
    if principal.has("mdo_admin") and in_scope(campaign.scope, principal.org_id, parent_lookup(adapters)):
        return
    raise forbidden("only admins see a campaign's report")


# --- closing: results once, awards page by page -------------------------------------------------------------

def _badge(campaign: Campaign, kind: str) -> dict:
    zone, goal = campaign.zone, campaign.goal
    window = f"{campaign.start.astimezone(zone):%d %b %Y %H:%M} to {campaign.end.astimezone(zone):%d %b %Y %H:%M}"
    what = f"{goal.target} minutes of competency-linked learning" if goal.kind == "minutes" \
        else f"{goal.target} competency-linked courses"
    if kind == "goal":
        return {"name": f"{campaign.name}: goal met",
                "description": f"Met the goal of {campaign.name}",
                "criteria": f"At least {what} from {window} ({campaign.timezone})"}
    return {"name": f"{campaign.name}: top learner",
            "description": f"One of the top {campaign.awards.top_learners_per_org} learners of their org in "
                           f"{campaign.name}",
            "criteria": f"Dense rank {campaign.awards.top_learners_per_org} or better in their org by "
                        f"{goal.kind} from {window} ({campaign.timezone})"}


def close(campaign: Campaign, adapters, now: datetime, budget_seconds: Optional[float] = None) -> bool:
    """Freeze the results (once), then award participants page by page from the stored cursor until done or
    out of time (the next run resumes). True when this run set the campaign closed."""
    store, operation = adapters.campaigns, campaign_config().operation
    deadline = time.monotonic() + (operation["close_seconds"] if budget_seconds is None else budget_seconds)
    if store.results(campaign.id) is None:
        rows = _org_rows(campaign, adapters)
        summary = {"computed_at": utc_iso(now), "orgs": len(rows),
                   "participants": sum(r["participants"] for r in rows),
                   "goal_met": sum(r["goal_met"] for r in rows),
                   "org_awards": [{"org_id": r["org_id"], "size_category": r["size_category"],
                                   "rank_in_category": r["rank_in_category"],
                                   "participation_percent": r["participation_percent"]} for r in rows if r["award"]]}
        store.freeze_results(campaign.id, summary, rows)
    step, cursor = store.close_state(campaign.id)
    org_scores: dict[str, Counter] = {}
    badges = {kind: _badge(campaign, kind) for kind in ("goal", "top")}
    for shard in range(store.progress_shards):
        while cursor.get(str(shard)) != "done":
            if time.monotonic() > deadline:
                return False
            page, after = store.progress_page(campaign.id, shard, cursor.get(str(shard)),
                                              operation["close_page_size"])
            _award_page(campaign, page, org_scores, badges, adapters)
            cursor[str(shard)] = after or "done"
            if not store.move_close_cursor(campaign.id, step, cursor):
                return False  # another run is at it: it will finish
            step += 1
    return store.set_status(campaign.id, "closing", "closed")


def _award_page(campaign: Campaign, page, org_scores: dict, badges: dict, adapters) -> None:
    awards, facts = [], []
    when = campaign.closes_at
    for stored in page:
        p = stored.progress
        if p.org_id not in org_scores:
            org_scores[p.org_id] = adapters.boards.scores(board_key(Scope("org", p.org_id), campaign.period))
        scores = org_scores[p.org_id]
        earned = []
        if campaign.awards.goal_badge and p.goal_met:
            earned.append("goal")
        if rules.top_learner(p.score, scores, campaign.awards.top_learners_per_org):
            earned.append("top")
        for kind in earned:
            badge_id, badge = campaign.badge_id(kind), badges[kind]
            awards.append(Award(p.learner_id, badge_id, campaign.id, badge["name"], badge["description"], when))
            facts.append(DomainEvent(f"badge.awarded:{p.learner_id}:{badge_id}", "badge.awarded", p.learner_id, when,
                                     {"badge_id": badge_id, "campaign_id": campaign.id, **badge, "event_id": None}))
        facts.append(DomainEvent(f"campaign.result:{campaign.id}:{p.learner_id}", "campaign.result", p.learner_id,
                                 when, {"campaign_id": campaign.id, "goal_met": p.goal_met, "minutes": p.minutes,
                                        "rank_in_org": rules.rank_in(p.score, scores),
                                        "awards": [campaign.badge_id(k) for k in earned],
                                        # for the results message: "rank 3 of 120" and the award's name
                                        "org_id": p.org_id, "participants_in_org": sum(scores.values()),
                                        "award_names": [badges[k]["name"] for k in earned]}))
    if facts:
        adapters.campaigns.award(awards, facts)
