"""A campaign as an admin defines it: its statuses, the definition and its validation, and the lifecycle.
Pure rules, no I/O (campaigns/rules.py has what counts and a learner's progress)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Optional
from zoneinfo import ZoneInfo

from chalicelib.campaigns.config import CampaignConfig
from chalicelib.errors import bad_request, storable_text
from chalicelib.events import clean_text, is_id

STATUSES = ("draft", "scheduled", "live", "closing", "closed", "cancelled")
EDITABLE = ("draft", "scheduled")  # only these may change their window or goal
ACTIVE = ("scheduled", "live", "closing")  # progress is kept up to date while in these
SCOPE_KINDS = ("national", "ministry", "state", "org")
GOAL_KINDS = ("minutes", "courses")
AREAS = ("behavioural", "functional", "domain")


# --- the definition -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Goal:
    kind: str  # "minutes" or "courses"
    target: int


@dataclass(frozen=True)
class Counts:
    courses: bool = True
    events: bool = True
    time_spent: bool = True
    course_ids: tuple[str, ...] = ()  # empty: any course with at least one competency
    competency_areas: tuple[str, ...] = ()  # empty: any area


@dataclass(frozen=True)
class Awards:
    goal_badge: bool = True
    top_learners_per_org: int = 3
    org_awards: bool = True
    org_awards_per_category: int = 1


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    scope: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    timezone: str
    grace_hours: int
    goal: Goal
    counts: Counts
    awards: Awards
    multiplier: Optional[float] = None
    status: str = "draft"
    created_by: Optional[str] = None
    created_at: Optional[datetime] = None
    description: Optional[str] = None

    @property
    def closes_at(self) -> datetime:
        """Events received after this no longer count; results are computed from then on."""
        return self.end + timedelta(hours=self.grace_hours)

    @property
    def period(self) -> str:
        """The leaderboard period of this campaign's boards (chalicelib/leaderboards)."""
        return f"campaign:{self.id}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def badge_id(self, kind: str) -> str:
        return f"campaign.{self.id}.{kind}"


def scope_parts(scope: str) -> tuple[str, Optional[str]]:
    kind, _, ident = (scope or "").partition(":")
    return kind, (ident or None)


def parse_scope(text) -> str:
    if not isinstance(text, str):
        raise bad_request("scope", "must be national, ministry:<id>, state:<id> or org:<id>")
    kind, ident = scope_parts(text)
    if kind == "national" and ident is None:
        return "national"
    if kind in SCOPE_KINDS and kind != "national" and is_id(ident):
        return text
    raise bad_request("scope", "must be national, ministry:<id>, state:<id> or org:<id>")


def _moment(value, name: str, zone: ZoneInfo) -> datetime:
    if not isinstance(value, str):
        raise bad_request(name, "must be a date and time such as 2026-12-01T00:00 (local) or with an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            raise bad_request(name, "must be a date and time such as 2026-12-01T00:00 (local) or with an offset") \
                from None
    if not 2000 <= moment.year <= 2100:
        raise bad_request(name, "must be a date between the years 2000 and 2100")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc)


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(name, f"must be a whole number from {low} to {high}")
    return value


def _bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(name, "must be true or false")
    return value


def _object(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(name, "must be an object")
    return value


def _unknown(body: dict, allowed: Iterable[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise bad_request((prefix + str(key)[:64]) or "body", "is not a field of a campaign")


FIELDS = ("name", "description", "scope", "start", "end", "timezone", "grace_hours", "goal", "counts",
          "multiplier", "awards", "status")


def definition_from(body, config: CampaignConfig, existing: Optional[Campaign] = None,
                    campaign_id: str = "", now: Optional[datetime] = None) -> Campaign:
    """A validated campaign from a request body: every default from config (POST), or from `existing` (PATCH).

    Raises ApiError 400 naming the first bad field."""
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    _unknown(body, FIELDS)
    base = existing
    name = body.get("name", base.name if base else None)
    if isinstance(name, str) and not storable_text(name):
        raise bad_request("name", "has a character that is not text (an unpaired surrogate)")
    name = clean_text(name) if isinstance(name, str) else name  # NFC, no bidi or zero-width controls
    if not isinstance(name, str) or not name.strip() or len(name) > config.max_name_length:
        raise bad_request("name", f"is required: 1 to {config.max_name_length} characters")
    description = body.get("description", base.description if base else None)
    if isinstance(description, str) and not storable_text(description):
        raise bad_request("description", "has a character that is not text (an unpaired surrogate)")
    description = clean_text(description) if isinstance(description, str) else description
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        raise bad_request("description", "must be text of at most 2000 characters")
    scope = parse_scope(body.get("scope", base.scope if base else None))
    zone_name = body.get("timezone", base.timezone if base else config.timezone)
    try:
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) and zone_name else None
    except Exception:  # ZoneInfoNotFoundError, ValueError, and whatever odd paths make the zone loader raise
        zone = None
    if zone is None:
        raise bad_request("timezone", "must be an IANA time zone such as Asia/Kolkata")
    start = _moment(body["start"], "start", zone) if "start" in body else (base.start if base else None)
    end = _moment(body["end"], "end", zone) if "end" in body else (base.end if base else None)
    if start is None:
        raise bad_request("start", "is required")
    if end is None:
        raise bad_request("end", "is required")
    if end <= start:
        raise bad_request("end", "must be after start")
    if end - start > timedelta(days=config.max_window_days):
        raise bad_request("end", f"the window may be at most {config.max_window_days} days")
    grace = _int(body.get("grace_hours", base.grace_hours if base else config.grace_hours),
                 "grace_hours", 0, 24 * 30)
    goal = _goal(body.get("goal"), config, base.goal if base else None)
    counts = _counts(body.get("counts"), config, base.counts if base else None)
    awards = _awards(body.get("awards"), config, base.awards if base else None)
    multiplier = body.get("multiplier", base.multiplier if base else None)
    if multiplier is not None:
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) \
                or not 1 <= multiplier <= config.max_multiplier:
            raise bad_request("multiplier", f"must be a number from 1 to {config.max_multiplier}, or null")
        multiplier = float(multiplier)
    status = base.status if base else "draft"
    if "status" in body:
        if body["status"] not in ("draft", "scheduled") or (base and base.status not in EDITABLE):
            raise bad_request("status", "may only be set to draft or scheduled (use /cancel to cancel)")
        status = body["status"]
    return Campaign(campaign_id or (base.id if base else ""), name.strip(), scope, start, end, zone.key, grace,
                    goal, counts, awards, multiplier, status, base.created_by if base else None,
                    base.created_at if base else now, description)


def _goal(value, config: CampaignConfig, base: Optional[Goal]) -> Goal:
    if value is None:
        return base or Goal(config.goal["kind"], int(config.goal[config.goal["kind"]]))
    value = _object(value, "goal")
    _unknown(value, ("kind", "target"), "goal.")
    kind = value.get("kind", base.kind if base else config.goal["kind"])
    if kind not in GOAL_KINDS:
        raise bad_request("goal.kind", "must be minutes or courses")
    default = base.target if base and base.kind == kind else int(config.goal[kind])
    target = _int(value.get("target", default), "goal.target", 1, 100_000)
    return Goal(kind, target)


def _counts(value, config: CampaignConfig, base: Optional[Counts]) -> Counts:
    base = base or Counts(bool(config.counts["courses"]), bool(config.counts["events"]),
                          bool(config.counts["time_spent"]))
    value = _object(value, "counts")
    _unknown(value, ("courses", "events", "time_spent", "course_ids", "competency_areas"), "counts.")
    flags = {k: _bool(value[k], f"counts.{k}") if k in value else getattr(base, k)
             for k in ("courses", "events", "time_spent")}
    course_ids = value.get("course_ids", list(base.course_ids))
    if not isinstance(course_ids, list) or len(course_ids) > config.max_listed or not all(map(is_id, course_ids)):
        raise bad_request("counts.course_ids", f"must be a list of at most {config.max_listed} course ids")
    areas = value.get("competency_areas", list(base.competency_areas))
    if not isinstance(areas, list) or not all(a in AREAS for a in areas):
        raise bad_request("counts.competency_areas", f"must be a list of {', '.join(AREAS)}")
    if not any(flags.values()):
        raise bad_request("counts", "at least one of courses, events or time_spent must count")
    return Counts(**flags, course_ids=tuple(sorted(set(course_ids))), competency_areas=tuple(sorted(set(areas))))


def _awards(value, config: CampaignConfig, base: Optional[Awards]) -> Awards:
    base = base or Awards(bool(config.awards["goal_badge"]), int(config.awards["top_learners_per_org"]),
                          bool(config.awards["org_awards"]), int(config.awards["org_awards_per_category"]))
    value = _object(value, "awards")
    _unknown(value, ("goal_badge", "top_learners_per_org", "org_awards", "org_awards_per_category"), "awards.")
    return Awards(
        _bool(value["goal_badge"], "awards.goal_badge") if "goal_badge" in value else base.goal_badge,
        _int(value.get("top_learners_per_org", base.top_learners_per_org), "awards.top_learners_per_org", 0, 100),
        _bool(value["org_awards"], "awards.org_awards") if "org_awards" in value else base.org_awards,
        _int(value.get("org_awards_per_category", base.org_awards_per_category),
             "awards.org_awards_per_category", 1, 100))


def window_or_goal_changed(before: Campaign, after: Campaign) -> bool:
    return (before.start, before.end, before.grace_hours, before.goal, before.counts, before.timezone) != \
        (after.start, after.end, after.grace_hours, after.goal, after.counts, after.timezone)


def as_dict(c: Campaign) -> dict:
    from chalicelib.rules.periods import utc_iso
    zone = c.zone
    return {"id": c.id, "name": c.name, "description": c.description, "scope": c.scope, "status": c.status,
            "start": utc_iso(c.start), "end": utc_iso(c.end),
            "start_local": c.start.astimezone(zone).isoformat(), "end_local": c.end.astimezone(zone).isoformat(),
            "timezone": c.timezone, "grace_hours": c.grace_hours, "closes_at": utc_iso(c.closes_at),
            "goal": {"kind": c.goal.kind, "target": c.goal.target},
            "counts": {"courses": c.counts.courses, "events": c.counts.events, "time_spent": c.counts.time_spent,
                       "course_ids": list(c.counts.course_ids), "competency_areas": list(c.counts.competency_areas)},
            "multiplier": c.multiplier,
            "awards": {"goal_badge": c.awards.goal_badge, "top_learners_per_org": c.awards.top_learners_per_org,
                       "org_awards": c.awards.org_awards,
                       "org_awards_per_category": c.awards.org_awards_per_category},
            "created_by": c.created_by, "created_at": utc_iso(c.created_at) if c.created_at else None}


def from_dict(d: dict) -> Campaign:
    def moment(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    return Campaign(d["id"], d["name"], d["scope"], moment(d["start"]), moment(d["end"]), d["timezone"],
                    d["grace_hours"], Goal(**d["goal"]),
                    Counts(d["counts"]["courses"], d["counts"]["events"], d["counts"]["time_spent"],
                           tuple(d["counts"]["course_ids"]), tuple(d["counts"]["competency_areas"])),
                    Awards(**d["awards"]), d.get("multiplier"), d["status"], d.get("created_by"),
                    moment(d.get("created_at")), d.get("description"))


# --- lifecycle ------------------------------------------------------------------------------------------

def due_status(campaign: Campaign, now: datetime) -> str:
    """Where the clock says a published campaign should be. Draft, closed and cancelled stay put; a closing
    campaign past its grace period becomes closed only once its results are computed (service.close)."""
    if campaign.status not in ACTIVE:
        return campaign.status
    if now < campaign.start:
        return "scheduled"
    if now < campaign.end:
        return "live"
    return "closing"
