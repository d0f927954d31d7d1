"""Campaigns as pure rules: the definition and its validation, the lifecycle, what counts, a learner's progress,
the points multiplier, the per-org statistics a change of progress makes, and awards. No I/O.

Progress is a pure function of (the learner's events, when each was received, the campaign, which of the
learner's orgs are in its scope, review decisions): duplicates are dropped by id and events are folded in
(occurred_at, id) order, so any replay in any order gives the same progress.
"""
from __future__ import annotations

import os
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Optional
from zoneinfo import ZoneInfo

from chalicelib.errors import bad_request, storable_text
from chalicelib.events import (CourseCompleted, EventAttended, LearningTimeSpent, clean_text, is_id)
from chalicelib.rules import abuse
from chalicelib.rules.abuse import AbuseLimits

STATUSES = ("draft", "scheduled", "live", "closing", "closed", "cancelled")
EDITABLE = ("draft", "scheduled")  # only these may change their window or goal
ACTIVE = ("scheduled", "live", "closing")  # progress is kept up to date while in these
SCOPE_KINDS = ("national", "ministry", "state", "org")
GOAL_KINDS = ("minutes", "courses")
AREAS = ("behavioural", "functional", "domain")


# --- configuration --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignConfig:
    timezone: str
    grace_hours: int
    max_name_length: int
    max_window_days: int
    max_multiplier: float
    max_listed: int
    goal: dict
    counts: dict
    awards: dict
    operation: dict
    stats_shards: dict
    max_created_per_admin_per_day: int = 20

    def shards_for(self, org_type: Optional[str]) -> int:
        return int(self.stats_shards.get(org_type or "", 1))


@lru_cache(maxsize=1)
def campaign_config() -> CampaignConfig:
    path = os.environ.get("KARMAYOGI_CAMPAIGNS_FILE") or Path(__file__).with_name("config.toml")
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return CampaignConfig(**data)


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


# --- what counts, and a learner's progress ----------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    campaign_id: str
    learner_id: str
    org_id: Optional[str]
    minutes: int = 0
    courses: int = 0
    events_attended: int = 0
    score: int = 0  # toward the goal: minutes or courses
    goal_met: bool = False
    goal_met_at: Optional[datetime] = None
    reached_at: Optional[datetime] = None  # when the learner reached their current score (ties on boards)
    days: tuple[tuple[str, int, int], ...] = ()  # (local date, minutes, courses), by date

    @property
    def participating(self) -> bool:
        return self.minutes > 0 or self.courses > 0 or self.events_attended > 0

    def state(self) -> str:
        """Everything the statistics depend on: the condition that makes each change of them apply once."""
        return f"{self.org_id}|{self.minutes}|{self.courses}|{self.events_attended}|{self.score}|" \
               f"{int(self.goal_met)}|" + ",".join(f"{d}:{m}:{c}" for d, m, c in self.days)


def _competencies_match(competencies, counts: Counts) -> bool:
    if not competencies:
        return False
    return not counts.competency_areas or any(c.area in counts.competency_areas for c in competencies)


def counted_minutes_and_courses(event, c: Campaign) -> Optional[tuple[int, int, int, str]]:
    """(minutes, courses, events, dedupe key) an event adds to a campaign, or None if it does not count."""
    counts = c.counts
    if isinstance(event, CourseCompleted) and counts.courses:
        course = event.course
        if counts.course_ids and course.id not in counts.course_ids:
            return None
        if not counts.course_ids and not _competencies_match(course.competencies, counts):
            return None
        return course.duration_minutes, 1, 0, f"course:{course.id}"
    if isinstance(event, EventAttended) and counts.events:
        if counts.competency_areas and not _competencies_match(event.event.competencies, counts):
            return None
        return event.event.duration_minutes, 0, 1, f"event:{event.event.id}"
    if isinstance(event, LearningTimeSpent) and counts.time_spent and event.competency_linked:
        if counts.course_ids and event.content_id not in counts.course_ids:
            return None
        return event.minutes, 0, 0, f"time:{event.id}"
    return None


def progress(campaign: Campaign, learner_id: str, org_id: Optional[str], events: Iterable,
             received: Mapping[str, datetime], orgs_in_scope: Iterable[str],
             decisions: Optional[Mapping[str, str]] = None,
             limits: AbuseLimits = AbuseLimits()) -> Optional[Progress]:
    """The learner's progress in one campaign, or None if nothing of theirs counts.

    An event counts if it happened in the window, while the learner was in an org of the campaign's scope
    (`orgs_in_scope`: those of the learner's orgs that are), was received no later than the end plus the grace
    period (`received`: event id -> first receipt; unknown means in time), and is not held or rejected by the
    anti-abuse review. A course or a live event counts once, however often it is completed.
    """
    unique = {}
    for event in events:
        unique.setdefault(event.id, event)
    left_out = abuse.excluded(abuse.holds(unique.values(), limits), decisions or {})
    in_scope, zone = set(orgs_in_scope), campaign.zone
    seen: set[str] = set()
    minutes = courses = attended = score = 0
    goal_met_at = reached_at = None
    days: dict[str, list[int]] = {}
    for event in sorted(unique.values(), key=lambda e: e.order_key):
        if event.id in left_out or not (campaign.start <= event.occurred_at < campaign.end):
            continue
        when = received.get(event.id)
        if when is not None and when > campaign.closes_at:
            continue
        learner = getattr(event, "learner", None)
        if learner is None or learner.org_id not in in_scope:
            continue
        counted = counted_minutes_and_courses(event, campaign)
        if counted is None or counted[3] in seen:
            continue
        seen.add(counted[3])
        add_minutes, add_courses, add_events, _ = counted
        minutes, courses, attended = minutes + add_minutes, courses + add_courses, attended + add_events
        day = days.setdefault(event.occurred_at.astimezone(zone).date().isoformat(), [0, 0])
        day[0] += add_minutes
        day[1] += add_courses
        new_score = minutes if campaign.goal.kind == "minutes" else courses
        if new_score != score:
            score, reached_at = new_score, event.occurred_at
        if goal_met_at is None and score >= campaign.goal.target:
            goal_met_at = event.occurred_at
    if not (minutes or courses or attended):
        return None
    return Progress(campaign.id, learner_id, org_id, minutes, courses, attended, score, goal_met_at is not None,
                    goal_met_at, reached_at or min(unique[e].occurred_at for e in unique),
                    tuple((d, m, c) for d, (m, c) in sorted(days.items())))


def percent(p: Optional[Progress], goal: Goal) -> float:
    score = p.score if p else 0
    return round(min(100.0, 100.0 * score / goal.target), 1)


# --- statistics: what a change of progress does to an org and its ancestors --------------------------------

STAT_FIELDS = ("participants", "goal_met", "courses", "minutes")


def contributions(p: Optional[Progress], ancestors: Iterable[str]) -> dict[tuple[str, str], Counter]:
    """(org id, bucket) -> counts one learner's progress adds. Buckets: "own" (the org's own learners),
    "total" (the org and everything below it, so also written for each ancestor), "day:<date>" (subtree)."""
    if p is None or not p.participating or not p.org_id:
        return {}
    values = Counter(participants=1, goal_met=int(p.goal_met), courses=p.courses, minutes=p.minutes)
    out = {(p.org_id, "own"): Counter(values)}
    for org in [p.org_id, *ancestors]:
        out[(org, "total")] = Counter(values)
        for day, minutes, courses in p.days:
            out[(org, f"day:{day}")] = Counter(active=1, minutes=minutes, courses=courses)
    return out


def stats_delta(old: Optional[Progress], old_ancestors: Iterable[str], new: Optional[Progress],
                new_ancestors: Iterable[str]) -> dict[tuple[str, str], dict[str, int]]:
    """What to add to each statistics item so that it counts `new` instead of `old`: zeros left out."""
    before, after = contributions(old, old_ancestors), contributions(new, new_ancestors)
    delta = {}
    for key in set(before) | set(after):
        change = {f: after.get(key, Counter())[f] - before.get(key, Counter())[f]
                  for f in set(before.get(key, {})) | set(after.get(key, {}))}
        change = {f: v for f, v in change.items() if v}
        if change:
            delta[key] = change
    return delta


# --- the points multiplier --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Boost:
    """Points earned in this window by a learner of an org in the campaign's scope are multiplied."""
    campaign_id: str
    name: str
    start: datetime
    end: datetime
    factor: float

    def applies(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def boost_of(c: Campaign) -> Optional[Boost]:
    if not c.multiplier or c.multiplier == 1 or c.status in ("draft", "cancelled"):
        return None
    return Boost(c.id, c.name, c.start, c.end, c.multiplier)


def boosted(points: int, boosts: Iterable[Boost], moment: datetime) -> tuple[int, Optional[Boost]]:
    """The points after the largest multiplier of a window containing `moment` (multipliers do not stack)."""
    best = max((b for b in boosts if b.applies(moment)), key=lambda b: (b.factor, b.campaign_id), default=None)
    if best is None or points <= 0:
        return points, None
    return int(round(points * best.factor)), best


# --- awards ------------------------------------------------------------------------------------------------

def top_learner(score: int, org_scores: Mapping[int, int], top_n: int) -> bool:
    """Dense rank <= N on the org's campaign board (tied learners share a place)."""
    if top_n <= 0 or score <= 0:
        return False
    return 1 + sum(1 for s, n in org_scores.items() if s > score and n > 0) <= top_n


def rank_in(score: int, org_scores: Mapping[int, int]) -> Optional[int]:
    if score <= 0:
        return None
    return 1 + sum(1 for s, n in org_scores.items() if s > score and n > 0)


@dataclass
class OrgRow:
    org_id: str
    headcount: int
    participants: int
    goal_met: int
    minutes: int
    courses: int
    category: Optional[str] = None
    rank_in_category: Optional[int] = None
    award: bool = False
    parents: tuple = field(default_factory=tuple)

    @property
    def participation(self) -> float:
        return self.participants / self.headcount if self.headcount else 0.0


def rank_orgs(rows: list[OrgRow], categories, max_hidden: int, awards: Awards) -> list[OrgRow]:
    """Size category by headcount, dense rank by participation rate within it, awards to the first places.
    Orgs with max_hidden learners or fewer are not compared (as on the core org boards)."""
    from chalicelib.leaderboards.boards import size_category
    ranked = []
    for row in rows:
        category = size_category(row.headcount, categories) if row.headcount > max_hidden else None
        ranked.append(replace(row, category=category.name if category else None))
    for name in {r.category for r in ranked if r.category}:
        members = [r for r in ranked if r.category == name]
        distinct = sorted({round(r.participation, 6) for r in members}, reverse=True)
        for r in members:
            r.rank_in_category = distinct.index(round(r.participation, 6)) + 1
            r.award = awards.org_awards and r.participants > 0 and r.rank_in_category <= awards.org_awards_per_category
    return sorted(ranked, key=lambda r: (r.category or "~", r.rank_in_category or 0, r.org_id))
