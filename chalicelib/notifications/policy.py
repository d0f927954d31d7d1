"""Pure rules of sending: which channel, when (quiet hours), how often (caps), and the nudge ladder. No I/O.

Every number is in config.toml next to this file (KARMAYOGI_NOTIFICATIONS_FILE points at a copy).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional
from zoneinfo import ZoneInfo

KINDS_BY_CATEGORY = {
    "awards": ("badge_awarded", "rules_changed"),
    "campaign_reminders": ("campaign_starting", "campaign_halfway", "campaign_last_day", "campaign_results"),
    "nudges": ("nudge_inactive", "nudge_never_started"),
    "admin_summaries": ("admin_weekly_summary",),
}
CATEGORIES = tuple(KINDS_BY_CATEGORY)
CATEGORY_OF = {kind: category for category, kinds in KINDS_BY_CATEGORY.items() for kind in kinds}
KINDS = tuple(CATEGORY_OF)

# Delivery record states. "queued" and "sending" are pending (the sweeper watches them); the others are final.
QUEUED, SENDING, SENT, SUPPRESSED, FAILED = "queued", "sending", "sent", "suppressed", "failed"
# Records that count against caps: what was sent or is on its way (a suppressed or failed one reached nobody).
COUNTED = (QUEUED, SENDING, SENT)


@dataclass(frozen=True)
class Config:
    timezone: ZoneInfo
    sms_quiet_start: time
    sms_quiet_end: time
    no_email_nudge_weekdays: frozenset[int]
    email_nudge_resume_hour: int
    nudges_per_week: int
    nudges_per_90_days: int
    campaign_reminders_per_day: int
    sms_budget: int
    rung_days: tuple[int, ...]
    sms_rung: int
    digest_window_minutes: int
    requeue_after: timedelta
    sending_lease: timedelta
    attempts_in_process: int
    backoff_base_seconds: float
    max_receives: int
    pending_shards: int
    sweep_limit: int
    history_days: int


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def config_from(data: dict) -> Config:
    quiet, caps, ladder, outbox = data["quiet_hours"], data["caps"], data["ladder"], data["outbox"]
    return Config(
        timezone=ZoneInfo(data["timezone"]),
        sms_quiet_start=_clock(quiet["sms_start"]), sms_quiet_end=_clock(quiet["sms_end"]),
        no_email_nudge_weekdays=frozenset(quiet["no_email_nudge_weekdays"]),
        email_nudge_resume_hour=quiet["email_nudge_resume_hour"],
        nudges_per_week=caps["nudges_per_week"], nudges_per_90_days=caps["nudges_per_90_days"],
        campaign_reminders_per_day=caps["campaign_reminders_per_day"],
        sms_budget=caps["sms_budget_per_org_per_campaign"],
        rung_days=tuple(ladder["rung_days"]), sms_rung=ladder["sms_rung"],
        digest_window_minutes=data["digest"]["window_minutes"],
        requeue_after=timedelta(minutes=outbox["requeue_after_minutes"]),
        sending_lease=timedelta(minutes=outbox["sending_lease_minutes"]),
        attempts_in_process=outbox["attempts_in_process"], backoff_base_seconds=outbox["backoff_base_seconds"],
        max_receives=outbox["max_receives"], pending_shards=outbox["pending_shards"],
        sweep_limit=outbox["sweep_limit"], history_days=outbox["history_days"])


@lru_cache(maxsize=None)
def _load(path: str) -> Config:
    return config_from(tomllib.loads(Path(path).read_text()))


def default_config() -> Config:
    return _load(os.environ.get("KARMAYOGI_NOTIFICATIONS_FILE") or str(Path(__file__).with_name("config.toml")))


# --- quiet hours ------------------------------------------------------------------------------------------

def _in_sms_quiet_hours(local: datetime, config: Config) -> bool:
    start, end, now = config.sms_quiet_start, config.sms_quiet_end, local.time()
    return (now >= start or now < end) if start > end else start <= now < end


def earliest_send(channel: str, category: str, due: datetime, config: Config) -> datetime:
    """When a message due at `due` (UTC) may go out: no SMS in quiet hours, no email nudges on the days off."""
    local = due.astimezone(config.timezone)
    if channel == "sms" and _in_sms_quiet_hours(local, config):
        day = local.date() if local.time() < config.sms_quiet_end else local.date() + timedelta(days=1)
        return datetime.combine(day, config.sms_quiet_end, config.timezone).astimezone(timezone.utc)
    if channel == "email" and category == "nudges" and local.isoweekday() in config.no_email_nudge_weekdays:
        day = local.date()
        while day.isoweekday() in config.no_email_nudge_weekdays:
            day += timedelta(days=1)
        return datetime.combine(day, time(config.email_nudge_resume_hour), config.timezone).astimezone(timezone.utc)
    return due


# --- caps -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """One earlier message of a learner, as caps see it."""
    category: str
    at: datetime  # when it was decided (UTC)
    status: str


def cap_refusal(category: str, history: Iterable[Sent], now: datetime, config: Config) -> Optional[str]:
    """Why a new message of this category may not be sent now (a reason), or None if no cap is reached."""
    counted = [h for h in history if h.category == category and h.status in COUNTED]
    if category == "nudges":
        if sum(1 for h in counted if h.at > now - timedelta(days=7)) >= config.nudges_per_week:
            return f"at most {config.nudges_per_week} nudge(s) a week"
        if sum(1 for h in counted if h.at > now - timedelta(days=90)) >= config.nudges_per_90_days:
            return f"at most {config.nudges_per_90_days} nudges in 90 days"
    if category == "campaign_reminders":
        today = now.astimezone(config.timezone).date()
        if sum(1 for h in counted if h.at.astimezone(config.timezone).date() == today) \
                >= config.campaign_reminders_per_day:
            return f"at most {config.campaign_reminders_per_day} campaign reminder(s) a day"
    return None


# --- channel ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    """What is known about reaching one person, for choosing a channel."""
    email_allowed: bool  # the learner's preference for this category
    sms_allowed: bool
    has_email: bool
    email_suppressed: bool
    has_phone: bool
    sms_opted_out: bool
    sms_template: bool  # this kind and locale has an SMS text with a DLT template id
    sms_budget_left: bool = True


def choose_channel(category: str, reach: Reach, prefer_sms: bool = False) -> tuple[Optional[str], str]:
    """(channel, why). Email first; SMS only where the learner allows it, there is a DLT template and budget,
    and either email did not work (no address, suppressed, turned off) or the ladder's SMS rung asks for it."""
    email_works = reach.email_allowed and reach.has_email and not reach.email_suppressed
    sms_works = (reach.sms_allowed and reach.has_phone and not reach.sms_opted_out and reach.sms_template
                 and reach.sms_budget_left)
    if prefer_sms and sms_works:
        return "sms", "the ladder's SMS rung"
    if email_works:
        return "email", "email"
    if sms_works:
        return "sms", "email did not work"
    if not reach.email_allowed and not reach.sms_allowed:
        return None, "the learner turned this category off"
    if reach.email_suppressed:
        return None, "the email address is suppressed (bounce or complaint) and SMS is not possible"
    if reach.sms_allowed and reach.has_phone and not reach.sms_template:
        return None, "no email, and this message has no DLT template for SMS"
    if reach.sms_allowed and reach.has_phone and not reach.sms_budget_left:
        return None, "no email, and the org's SMS budget is spent"
    return None, "no way to reach the learner"


# --- the nudge ladder -------------------------------------------------------------------------------------

def rung_due(last_active: date, today: date, config: Config) -> Optional[int]:
    """The highest rung (1-based) whose day has come for someone last active on last_active, or None."""
    inactive = (today - last_active).days
    due = [n for n, days in enumerate(config.rung_days, start=1) if inactive >= days]
    return due[-1] if due else None


def rung_date(last_active: date, rung: int, config: Config) -> Optional[date]:
    """The local date rung `rung` falls due, or None past the last rung (the ladder ends)."""
    if rung > len(config.rung_days):
        return None
    return last_active + timedelta(days=config.rung_days[rung - 1])


def local_date_of(moment: datetime, config: Config) -> date:
    return moment.astimezone(config.timezone).date()


def digest_window(moment: datetime, config: Config) -> tuple[datetime, str]:
    """The window a badge awarded at `moment` belongs to: its end (UTC) and its label (local, for keys)."""
    local = moment.astimezone(config.timezone)
    minutes = config.digest_window_minutes
    start_minute = (local.hour * 60 + local.minute) // minutes * minutes
    start = local.replace(hour=start_minute // 60, minute=start_minute % 60, second=0, microsecond=0)
    return (start + timedelta(minutes=minutes)).astimezone(timezone.utc), start.strftime("%Y-%m-%dT%H:%M")
