"""Campaigns as pure rules: what counts, a learner's progress, the points multiplier, the per-org statistics a
change of progress makes, and awards. No I/O. The definition, its validation and the lifecycle are in
campaigns/definition.py, the settings in campaigns/config.py; their names are importable from here too.

Progress is a pure function of (the learner's events, when each was received, the campaign, which of the
learner's orgs are in its scope, review decisions): duplicates are dropped by id and events are folded in
(occurred_at, id) order, so any replay in any order gives the same progress.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional

from chalicelib.events import CourseCompleted, EventAttended, LearningTimeSpent
from chalicelib.rules import abuse
from chalicelib.rules.abuse import AbuseLimits
from chalicelib.campaigns.config import CampaignConfig, campaign_config  # noqa: F401 (re-exported)
from chalicelib.campaigns.definition import (  # noqa: F401 (re-exported: importers use campaigns.rules)
    ACTIVE, AREAS, EDITABLE, FIELDS, GOAL_KINDS, SCOPE_KINDS, STATUSES, Awards, Campaign, Counts, Goal, as_dict,
    definition_from, due_status, from_dict, parse_scope, scope_parts, window_or_goal_changed)


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
             limits: Any = AbuseLimits()) -> Optional[Progress]:
    """The learner's progress in one campaign, or None if nothing of theirs counts.

    An event counts if it happened in the window, while the learner was in an org of the campaign's scope
    (`orgs_in_scope`: those of the learner's orgs that are), was received no later than the end plus the grace
    period (`received`: event id -> first receipt; unknown means in time), and is not held or rejected by the
    anti-abuse review (`limits`: the rule book, or anything abuse.holds takes). A course or a live event counts
    once, however often it is completed.
    """
    unique: dict = {}
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
