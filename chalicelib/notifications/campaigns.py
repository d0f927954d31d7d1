"""Campaign reminders and the weekly admin summary: deciding who gets which message, once.

Built against a minimal campaign (id, name, scope, start and end in UTC, goal minutes) and a progress callback,
so the campaigns feature can call it with its own records. Dedupe key (learner, kind, campaign); at most one
campaign reminder a day per learner (policy caps).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Optional

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
        context = {"campaign": info}
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
