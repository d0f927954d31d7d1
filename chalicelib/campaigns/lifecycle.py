"""The campaign lifecycle: the schedule moves published campaigns scheduled -> live -> closing by the clock, each
step a conditional write so that it happens once; once the grace period is over, closing freezes the results,
awards learners page by page from a cursor (each award a fact: digests and results messages follow), and sets
closed.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Optional

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import Campaign, campaign_config
from chalicelib.leaderboards.boards import Scope, board_key
from chalicelib.rules.periods import utc_iso
from chalicelib.campaigns.scope import (forget_campaigns)
from chalicelib.campaigns.store import Award
from chalicelib.facts import DomainEvent
from chalicelib.campaigns.reports import org_rows

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
        rows = org_rows(campaign, adapters)
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
