"""Campaign reminders and the weekly admin summary: deciding who gets which message, once.

Built against a minimal campaign (id, name, scope, start and end in UTC, goal minutes) and a progress callback,
so the campaigns feature can call it with its own records. Dedupe key (learner, kind, campaign); at most one
campaign reminder a day per learner (policy caps).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Optional

from chalicelib.facts import CAMPAIGN_RESULT, DomainEvent, FactHandler, consume, pending_for
from chalicelib.notifications import policy
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.rules.periods import utc_iso

RESULTS_WITHIN_DAYS = 7  # results are still worth sending this many days after the end (a late run)


@dataclass(frozen=True)
class CampaignInfo:
    id: str
    name: str
    scope: str
    starts_at: datetime
    ends_at: datetime
    goal_minutes: int


@dataclass(frozen=True)
class Progress:
    minutes_done: int
    goal_met: bool = False
    award: Optional[str] = None
    rank: Optional[int] = None
    participants: Optional[int] = None
    suggested_course: Optional[dict] = None  # {"title", "url"}


def reminder_kind(campaign: CampaignInfo, now: datetime, config: policy.Config) -> Optional[str]:
    """Which reminder today (local) calls for: the day before the start, the half-way day, the last day, and
    results after the end."""
    today = policy.local_date_of(now, config)
    start = policy.local_date_of(campaign.starts_at, config)
    end = policy.local_date_of(campaign.ends_at, config)
    middle = policy.local_date_of(campaign.starts_at + (campaign.ends_at - campaign.starts_at) / 2, config)
    if end < today <= end + timedelta(days=RESULTS_WITHIN_DAYS) and now >= campaign.ends_at:
        return "campaign_results"
    if today == end:
        return "campaign_last_day"
    if today == middle and start < today:
        return "campaign_halfway"
    if today == start - timedelta(days=1):
        return "campaign_starting"
    return None


def send_campaign_reminders(campaign: CampaignInfo, learner_ids: Iterable[str],
                            progress: Callable[[str], Progress], adapters, now: datetime,
                            org_of: Callable[[str], Optional[str]] = lambda _: None) -> dict:
    """Decide today's reminder for each learner in the campaign's scope; returns counts of outcomes."""
    config = adapters.notifications.settings()
    kind = reminder_kind(campaign, now, config)
    outcomes: dict[str, int] = {}
    if kind is None:
        return outcomes
    info = {"id": campaign.id, "name": campaign.name, "scope": campaign.scope,
            "starts_at": utc_iso(campaign.starts_at), "ends_at": utc_iso(campaign.ends_at),
            "goal_minutes": campaign.goal_minutes}
    for learner_id in learner_ids:
        context: dict = {"campaign": info}
        if kind != "campaign_starting":
            p = progress(learner_id)
            context.update(minutes_done=p.minutes_done, minutes_left=max(campaign.goal_minutes - p.minutes_done, 0),
                           suggested_course=p.suggested_course, goal_met=p.goal_met, award=p.award, rank=p.rank,
                           participants=p.participants)
        decision = decide(Intent(learner_id, kind, campaign.id, context, org_of(learner_id),
                                 campaign_id=campaign.id), adapters, now)
        outcomes[decision.status] = outcomes.get(decision.status, 0) + 1
    return outcomes


def send_admin_summary(admin_id: str, org_id: str, org_name: str, week: str, figures: dict, week_start: str,
                       week_end: str, adapters, now: datetime) -> str:
    """One summary per mdo_admin per ISO week. figures: employees, active_learners, participation_pct,
    completions, minutes_total, never_started (computed by the caller)."""
    context = {**figures, "org_name": org_name, "week": week, "week_start": week_start, "week_end": week_end}
    return decide(Intent(admin_id, "admin_weekly_summary", week, context, org_id), adapters, now).status


def remind_not_started(campaign_id: str, learner_ids: Iterable[str], adapters, now: datetime) -> int:
    """An admin's "remind" on a campaign's not-started list: a "start your learning" nudge to each roster
    employee, at most once per campaign and within the nudge caps. Returns how many were queued."""
    queued = 0
    for employee in adapters.rosters.get_many(list(learner_ids)).values():
        org = adapters.orgs.get(employee.org_id)
        intent = Intent(employee.learner_id, "nudge_never_started", f"campaign:{campaign_id}",
                        {"org_name": org.name if org else "", "course": None}, employee.org_id,
                        campaign_id=campaign_id)
        queued += decide(intent, adapters, now).status == "queued"
    return queued


# --- wiring to the real campaigns and rosters (chalicelib/campaigns/, chalicelib/rosters/) -------------------

REMINDER_PAGE = 100  # roster employees decided per step; the position is stored after each
REMINDER_KINDS = ("campaign_starting", "campaign_halfway", "campaign_last_day")


def info_of(campaign) -> Optional[CampaignInfo]:
    """A campaigns.rules.Campaign as the templates know it. None for a campaign whose goal is counted in
    courses: every campaign template speaks of minutes of learning, so those campaigns get no reminder."""
    if campaign.goal.kind != "minutes":
        return None
    # A campaign's end is exclusive (00:00 of the day after); people read, and reminder_kind counts, the last
    # second in it: "closes at 11:59 pm on 7 December", and the last day is 7 December.
    return CampaignInfo(campaign.id, campaign.name, campaign.scope, campaign.start,
                        campaign.end - timedelta(seconds=1), int(campaign.goal.target))


def _info_dict(info: CampaignInfo) -> dict:
    return {"id": info.id, "name": info.name, "scope": info.scope, "starts_at": utc_iso(info.starts_at),
            "ends_at": utc_iso(info.ends_at), "goal_minutes": info.goal_minutes}


def scope_orgs(scope: str, adapters) -> list[str]:
    """Every org of a campaign's scope, in a stable order (the stored position is an index into it). A
    national campaign starts from the orgs that have learners (org statistics of the members board, with
    their ancestors): the org tree has no list of roots."""
    from chalicelib.campaigns.rules import scope_parts
    from chalicelib.orgtree import subtree
    kind, ident = scope_parts(scope)
    if kind != "national":
        return sorted(subtree(ident, adapters))
    from chalicelib.leaderboards.projection import MEMBERS
    found: set[str] = set()
    for stats in adapters.boards.org_stats(MEMBERS):
        found.add(stats.org_id)
        found.update(key.partition(":")[2] for key in stats.parents if ":" in key)  # "ministry:<id>" -> id
    for org in list(found):
        found.update(subtree(org, adapters))
    return sorted(found)


def run_campaign_reminders(adapters, now: datetime, log=None, budget_seconds: float = 240.0,
                           clock: Callable[[], float] = None) -> dict:
    """Today's reminder (day before, half-way, last day) to every roster employee of each campaign's scope,
    org by org and page by page from a stored position (counters table, key reminders#<campaign>#<kind>), so
    that a national campaign is done over several runs and never held in memory. Runs hourly in the day; a
    run out of time stops and the next continues. Returns outcome counts."""
    import time as _time
    clock = clock or _time.monotonic
    deadline = clock() + budget_seconds
    config = adapters.notifications.settings()
    counters = adapters.notifications.counters
    outcomes: dict[str, int] = {}
    for campaign in adapters.campaigns.all():
        if campaign.status not in ("scheduled", "live"):
            continue
        info = info_of(campaign)
        kind = reminder_kind(info, now, config) if info else None
        if kind not in REMINDER_KINDS:
            continue
        key = f"reminders#{campaign.id}#{kind}"
        position = counters.position(key)
        if position == "done":
            continue
        orgs = scope_orgs(campaign.scope, adapters)
        index, _, after = (position or "0|").partition("|")
        index, after = int(index), after or None
        while index < len(orgs):
            if clock() > deadline:
                return outcomes
            page, next_after = adapters.rosters.employees(orgs[index], REMINDER_PAGE, after)
            for status, n in _remind_page(info, kind, page, adapters, now, log).items():
                outcomes[status] = outcomes.get(status, 0) + n
            index, after = (index, next_after) if next_after else (index + 1, None)
            moved = f"{index}|{after or ''}" if index < len(orgs) else "done"
            if not counters.move(key, position, moved):
                break  # another run moved it meanwhile: it carries on from there
            position = moved
        if position != "done" and index >= len(orgs):
            counters.move(key, position, "done")
    return outcomes


def _remind_page(info: CampaignInfo, kind: str, employees, adapters, now: datetime, log) -> dict:
    """One page: one batch read of their campaign progress, then a decision each (dedupe, caps: outbox)."""
    if not employees:
        return {}
    progress = {} if kind == "campaign_starting" else \
        adapters.campaigns.progress([(info.id, e.learner_id) for e in employees])
    org_of = {e.learner_id: e.org_id for e in employees}

    def progress_of(learner_id: str) -> Progress:
        stored = progress.get((info.id, learner_id))
        # No suggested course: there is no course catalogue to choose from (see README).
        return Progress(stored.progress.minutes, bool(stored.progress.goal_met)) if stored else Progress(0)
    outcomes: dict[str, int] = {}
    for employee in employees:
        try:
            one = send_campaign_reminders(info, [employee.learner_id], progress_of, adapters, now,
                                          org_of=org_of.get)
        except Exception as exc:  # noqa: BLE001 (one employee's trouble must not stop the others)
            if log:
                log.error("campaign reminder failed", extra={"error": type(exc).__name__})
            one = {"error": 1}
        for status, n in one.items():
            outcomes[status] = outcomes.get(status, 0) + n
    return outcomes


RESULTS_BATCH = 100  # facts read per index shard per run (4 shards): the rest wait for the next minute


def send_results(facts: list[DomainEvent], adapters, now: datetime, log=None, budget_seconds: float = 30.0,
                 clock: Optional[Callable[[], float]] = None) -> int:
    """The campaign.result handler (bootstrap.FACT_HANDLERS): the facts closing a campaign records (one per
    participant) become one campaign_results message each, dedupe key (learner, campaign_results, campaign). A
    fact is consumed once its message is decided (or cannot be). At most `budget_seconds` a run (it shares the
    every-minute Lambda): what is left stays pending for the next."""
    import time as _time
    clock = clock or _time.monotonic
    deadline = clock() + budget_seconds
    campaigns: dict[str, object] = {}
    queued = 0
    for fact in facts:
        if clock() > deadline:
            break
        payload = fact.payload or {}
        campaign_id = payload.get("campaign_id")
        try:
            if campaign_id not in campaigns:
                campaigns[campaign_id] = adapters.campaigns.get(campaign_id) if campaign_id else None
            campaign = campaigns[campaign_id]
            info = info_of(campaign) if campaign else None
            if info is not None:
                names = payload.get("award_names") or []
                context = {"campaign": _info_dict(info), "minutes_done": int(payload.get("minutes") or 0),
                           "goal_met": bool(payload.get("goal_met")), "award": ", ".join(names) or None,
                           "rank": payload.get("rank_in_org"), "participants": payload.get("participants_in_org")}
                decision = decide(Intent(fact.learner_id, "campaign_results", info.id, context,
                                         payload.get("org_id"), campaign_id=info.id), adapters, now)
                queued += decision.status == "queued"
        except Exception as exc:  # noqa: BLE001 (left pending: the next run tries again)
            if log:
                log.error("campaign result notice failed", extra={"error": type(exc).__name__})
            continue
        consume(adapters, [fact])
    return queued


RESULTS_HANDLER = FactHandler(send_results, batch=RESULTS_BATCH)


def send_campaign_results(adapters, now: datetime, log=None, budget_seconds: float = 30.0,
                          clock: Optional[Callable[[], float]] = None) -> int:
    """The campaign results due now (as the minute's dispatch does); returns how many were queued."""
    return send_results(pending_for(CAMPAIGN_RESULT, RESULTS_HANDLER, adapters, now), adapters, now, log,
                        budget_seconds, clock)


# --- the weekly admin summary (Monday morning IST) ----------------------------------------------------------

def recipients_from(text: Optional[str]) -> dict[str, list[str]]:
    """org id -> learner ids of the admins who receive its summary, from JSON ({"org_x": ["learner-1"]}).
    Learner ids, not addresses: contact details come from the learner record (or the roster) at sending, so
    no personal data sits in the configuration, and each admin can unsubscribe (category admin_summaries)."""
    import json
    if not text:
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("admin summary recipients must be a JSON object of org id -> list of learner ids")
    return {str(org): [str(i) for i in ids] for org, ids in data.items() if isinstance(ids, list)}


def run_admin_summaries(adapters, now: datetime, log=None) -> dict:
    """Last ISO week's figures for each org that has summary recipients, to each of them, once per admin per
    week (dedupe key). Figures: roster headcount of the org's subtree; learners active, minutes and points
    that week (org statistics of the week's boards: one read for all orgs); each live campaign's goal met.
    Weekly course completions and never-started counts are not kept per org, so they are left out."""
    from chalicelib.campaigns.scope import in_scope
    from chalicelib.orgtree import subtree
    from chalicelib.campaigns.reports import goal_met_in
    from chalicelib.orgtree import parent_lookup
    from chalicelib.rules.periods import week_of
    config = adapters.notifications.settings()
    recipients = adapters.admin_summary_recipients()
    outcomes: dict[str, int] = {}
    if not recipients:
        return outcomes
    today = policy.local_date_of(now, config)
    monday = today - timedelta(days=today.isoweekday() - 1)
    week_start, week_end = monday - timedelta(days=7), monday - timedelta(days=1)
    week = week_of(datetime.combine(week_start, datetime.min.time(), config.timezone), config.timezone)
    week_stats = {s.org_id: s for s in adapters.boards.org_stats(f"week:{week}")}
    live = [c for c in adapters.campaigns.all() if c.status == "live"]
    parent_of = parent_lookup(adapters)
    for org_id, admins in sorted(recipients.items()):
        try:
            org = adapters.orgs.get(org_id)
            if org is None or not admins:
                continue
            orgs = subtree(org_id, adapters)
            employees = sum(adapters.rosters.headcounts(orgs).values())
            mine = [week_stats[o] for o in orgs if o in week_stats]
            figures = {"employees": employees, "active_learners": sum(s.learners for s in mine),
                       "minutes_total": sum(s.minutes for s in mine), "points_total": sum(s.points for s in mine),
                       "participation_pct": (sum(s.learners for s in mine) / employees) if employees else 0.0,
                       "completions": None, "never_started": None,
                       "campaigns": [{"id": c.id, "name": c.name, "goal_met": goal_met_in(c, org_id, adapters)}
                                     for c in live if in_scope(c.scope, org_id, parent_of)]}
        except Exception as exc:  # noqa: BLE001 (one org's trouble must not stop the others)
            if log:
                log.error("admin summary failed", extra={"error": type(exc).__name__})
            outcomes["error"] = outcomes.get("error", 0) + 1
            continue
        for admin_id in admins:
            status = send_admin_summary(admin_id, org_id, org.name, week, figures, week_start.isoformat(),
                                        week_end.isoformat(), adapters, now)
            outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes
