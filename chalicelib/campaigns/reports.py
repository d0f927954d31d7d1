"""Reading campaigns: a learner's progress, an org's dashboard (with who has not started), the campaign's boards,
and the report comparing orgs (live, or frozen once closed)."""
from __future__ import annotations

from collections import Counter
from typing import Optional

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import Campaign, campaign_config
from chalicelib.errors import bad_request
from chalicelib.events import ID_PATTERN, is_id
from chalicelib.exports import to_csv
from chalicelib.identity.access import administers, forbidden, require_learner_access
from chalicelib.leaderboards import service as leaderboards
from chalicelib.leaderboards.boards import Scope, board_key
from chalicelib.leaderboards.settings import size_categories_at
from chalicelib import orgtree
from chalicelib.orgtree import parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.rules.periods import utc_iso
from chalicelib.campaigns.scope import board_scope, in_scope, org_type
from chalicelib.campaigns.service import can_manage, readable

NOT_STARTED_CURSOR = r"\d{1,6}\|(" + ID_PATTERN + ")?"


# --- reading progress, dashboards, boards, reports -----------------------------------------------------------

def _org_shards(org_id: str, adapters) -> int:
    return campaign_config().shards_for(org_type(org_id, parent_lookup(adapters)))


def learner_progress(campaign_id: str, learner_id: Optional[str], principal, adapters) -> dict:
    campaign = readable(campaign_id, principal, adapters)
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
    campaign = readable(campaign_id, principal, adapters)
    org_id = _dashboard_org(campaign, query.get("org_id"), adapters)
    parent_of = parent_lookup(adapters)
    admin = administers(principal, org_id, parent_of)
    orgs = orgtree.subtree(org_id, adapters)
    own = adapters.rosters.headcounts(orgs)
    children = adapters.orgs.children(org_id)
    child_trees = {child: orgtree.subtree(child, adapters) for child in children}  # already walked: cheap with a cache
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
        body["not_started"] = not_started(campaign, orgs, query, adapters)
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
    campaign = readable(campaign_id, principal, adapters)
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
    campaign = readable(campaign_id, principal, adapters)
    kind, ident = rules.scope_parts(campaign.scope)
    scope = leaderboards.resolve_scope(query["scope"], allowed=("ministry", "state", "dept", "national")) \
        if query.get("scope") else board_scope(ident, parent_lookup(adapters))
    if scope.kind == "org":
        raise bad_request("scope", "an org campaign has no org board: use the dashboard's sub_orgs")
    return leaderboards.org_board_of(scope, campaign.period, query, adapters, _roster_headcounts(adapters),
                                     started=campaign.start)


REPORT_COLUMNS = ("org_id", "name", "headcount", "participants", "goal_met", "goal_met_percent",
                  "participation_percent", "hours", "size_category", "rank_in_category", "award")


def org_rows(campaign: Campaign, adapters) -> list[dict]:
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
    # The size categories of the rule version in force at the campaign's start (docs/rule-versions.md).
    categories = size_categories_at(adapters.rules, config, campaign.start)
    ranked = rules.rank_orgs(rows, categories, config.max_hidden_org_learners, campaign.awards)
    names = adapters.orgs.names([r.org_id for r in ranked]) if ranked else {}
    return [{"org_id": r.org_id, "name": names.get(r.org_id), "headcount": r.headcount,
             "participants": r.participants, "goal_met": r.goal_met,
             "goal_met_percent": _percent(r.goal_met, r.headcount),
             "participation_percent": _percent(r.participants, r.headcount), "hours": round(r.minutes / 60, 1),
             "size_category": r.category, "rank_in_category": r.rank_in_category, "award": r.award}
            for r in ranked]


def report(campaign_id: str, query: dict, principal, adapters):
    campaign = readable(campaign_id, principal, adapters)
    _require_manage_or_view_report(principal, campaign, adapters)
    fmt = query.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise bad_request("format", "must be json or csv")
    frozen = campaign.status == "closed"
    rows = adapters.campaigns.report_rows(campaign.id) if frozen else org_rows(campaign, adapters)
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
