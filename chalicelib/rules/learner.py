"""A learner's standing as a pure function of their events.

`evaluate` deduplicates by event id and folds the events in (occurred_at, id) order, never arrival order,
so replaying any event any number of times, in any order, gives the same result. Every order-dependent rule
(the monthly cap, once-only points, which event earned a badge, when a score was reached) falls out of
that one ordering. Completions over the anti-abuse rate (rules/abuse.py) are left out of the fold unless a
national admin released them, so the standing is a pure function of (events, review decisions).
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from typing import Iterable, Mapping, Optional, Sequence

from chalicelib.events import (CourseCompleted, CourseEnrolled, CourseRated, EventAttended, LearnerEvent,
                               LearnerFirstLogin, LearnerUpserted, LearningTimeSpent)
from chalicelib.campaigns.rules import Boost, boosted
from chalicelib.rules import abuse
from chalicelib.rules.config import Badge, RuleBook, Rules, as_book
from chalicelib.rules.periods import (local_date, month_of, periods_of, shift_week, week_of,
                                      whole_months_between)

UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class LedgerLine:
    """Points one event earns under one rule, with the reason in words."""
    event_id: str
    rule: str
    points: int
    occurred_at: datetime
    note: str
    version: str = ""  # the rule version in force at occurred_at (rules/config.py RuleBook)

    @property
    def key(self) -> tuple[str, str]:
        return (self.event_id, self.rule)


@dataclass(frozen=True)
class BadgeAward:
    badge_id: str
    event_id: str
    awarded_at: datetime


@dataclass
class Profile:
    org_id: Optional[str] = None
    name: Optional[str] = None
    designation: Optional[str] = None
    group: Optional[str] = None
    email: Optional[str] = None
    phone: Optional[str] = None
    language: Optional[str] = None
    employee_code: Optional[str] = None


@dataclass
class LearnerStanding:
    learner_id: str
    profile: Profile = field(default_factory=Profile)
    points: int = 0
    courses_completed: int = 0
    learning_minutes: int = 0
    competency_areas: set[str] = field(default_factory=set)
    courses_in_area: Counter = field(default_factory=Counter)
    ratings: int = 0
    week_minutes: Counter = field(default_factory=Counter)
    clap_weeks: list[str] = field(default_factory=list)
    best_clap_streak: int = 0
    badges: dict[str, BadgeAward] = field(default_factory=dict)
    ledger: list[LedgerLine] = field(default_factory=list)
    points_by_period: Counter = field(default_factory=Counter)
    minutes_by_period: Counter = field(default_factory=Counter)
    # When the learner reached their current score in each period: ties on a board go to the earlier.
    reached_at: dict[str, datetime] = field(default_factory=dict)
    last_active_at: Optional[datetime] = None
    held_events: int = 0  # completions over the rate awaiting a national admin's review (not scored)
    rejected_events: int = 0  # completions a national admin rejected (never scored)

    def metric(self, name: str) -> int:
        if name.startswith("courses_in_area."):
            return self.courses_in_area[name.split(".", 1)[1]]
        return getattr(self, name)


@dataclass(frozen=True)
class StoredLearner:
    standing: LearnerStanding  # without ledger and weekly minutes, which are not stored on the learner
    version: int
    scopes: tuple[str, ...] = ()  # the board scopes the learner's entries were last written under
    preferences: Optional[dict] = None  # the fields the learner set (learners/preferences.py); never scored
    erased_at: Optional[datetime] = None  # set by erasure: the profile stays empty from then on


def current_clap_streak(clap_weeks: Iterable[str], this_week: str) -> int:
    """Consecutive clap weeks up to now. The running week only breaks a streak once it is over."""
    weeks = set(clap_weeks)
    week = this_week if this_week in weeks else shift_week(this_week, -1)
    streak = 0
    while week in weeks:
        streak += 1
        week = shift_week(week, -1)
    return streak


class _Fold:
    """Applies one event at a time, in order, to a standing. Internal to evaluate()."""

    def __init__(self, learner_id: str, rules: "Rules | RuleBook", catalogue: Iterable[Badge],
                 boosts: Optional[Mapping[str, Sequence[Boost]]] = None):
        self.book = as_book(rules, tuple(catalogue))
        self._use(self.book.versions[0])
        self.boosts = boosts or {}
        self.s = LearnerStanding(learner_id)
        self.completed: set[str] = set()
        self.rated: set[str] = set()
        self.attended: set[str] = set()
        self.enrolled = False
        self.logged_in = False
        self.capped_in_month: Counter = Counter()
        self.streak_ending: dict[str, int] = {}
        self.rejected = 0  # events a national admin rejected, among those folded so far (held_events is recomputed)

    # --- a checkpoint of the fold (rules/checkpoint.py) ---------------------------------------------------
    def state(self, last: Optional[datetime]) -> dict:
        """Everything the fold needs to go on, as plain JSON values. Weeks and months long over (more than
        a week before `last`, the latest event folded) are left out: no later event can reach them (a week's
        clap minutes, the monthly cap, a streak's previous week). The standing keeps every period."""
        s = self.s
        week_floor = week_of(last - timedelta(days=8), UTC) if last else ""
        month_floor = month_of(last - timedelta(days=8), UTC) if last else ""
        return {
            "profile": dataclasses.asdict(s.profile), "points": s.points, "courses_completed": s.courses_completed,
            "learning_minutes": s.learning_minutes, "competency_areas": sorted(s.competency_areas),
            "courses_in_area": dict(s.courses_in_area), "ratings": s.ratings,
            "week_minutes": {w: m for w, m in s.week_minutes.items() if w >= week_floor},
            "clap_weeks": list(s.clap_weeks), "best_clap_streak": s.best_clap_streak,
            "badges": {b.badge_id: [b.event_id, b.awarded_at.isoformat()] for b in s.badges.values()},
            "points_by_period": dict(s.points_by_period), "minutes_by_period": dict(s.minutes_by_period),
            "reached_at": {p: at.isoformat() for p, at in s.reached_at.items()},
            "last_active_at": s.last_active_at.isoformat() if s.last_active_at else None,
            "completed": sorted(self.completed), "rated": sorted(self.rated), "attended": sorted(self.attended),
            "enrolled": self.enrolled, "logged_in": self.logged_in,
            "capped_in_month": {m: n for m, n in self.capped_in_month.items() if m >= month_floor},
            "streak_ending": {w: n for w, n in self.streak_ending.items() if w >= week_floor},
            "rejected": self.rejected,
        }

    def restore(self, state: dict) -> None:
        def instant(text: Optional[str]) -> Optional[datetime]:
            return datetime.fromisoformat(text) if text else None
        self.s = LearnerStanding(
            self.s.learner_id, profile=Profile(**state["profile"]), points=state["points"],
            courses_completed=state["courses_completed"], learning_minutes=state["learning_minutes"],
            competency_areas=set(state["competency_areas"]), courses_in_area=Counter(state["courses_in_area"]),
            ratings=state["ratings"], week_minutes=Counter(state["week_minutes"]),
            clap_weeks=list(state["clap_weeks"]), best_clap_streak=state["best_clap_streak"],
            badges={bid: BadgeAward(bid, event_id, datetime.fromisoformat(at))
                    for bid, (event_id, at) in state["badges"].items()},
            points_by_period=Counter(state["points_by_period"]), minutes_by_period=Counter(state["minutes_by_period"]),
            reached_at={p: datetime.fromisoformat(at) for p, at in state["reached_at"].items()},
            last_active_at=instant(state["last_active_at"]))
        self.completed, self.rated, self.attended = set(state["completed"]), set(state["rated"]), set(state["attended"])
        self.enrolled, self.logged_in = state["enrolled"], state["logged_in"]
        self.capped_in_month = Counter(state["capped_in_month"])
        self.streak_ending = dict(state["streak_ending"])
        self.rejected = state["rejected"]

    def _use(self, version) -> None:
        self.version, self.rules, self.catalogue = version.id, version.rules, version.catalogue

    def apply(self, event: LearnerEvent) -> None:
        self._use(self.book.at(event.occurred_at))  # each event is scored by the rules in force when it happened
        handler = getattr(self, "_" + event.type.replace(".", "_"))
        if not isinstance(event, LearnerUpserted):
            self.s.profile.org_id = event.learner.org_id
            self.s.last_active_at = event.occurred_at
        handler(event)
        self._award_badges(event)

    # --- one method per event type -------------------------------------------------------------
    def _course_completed(self, e: CourseCompleted) -> None:
        course, points = e.course, self.rules.points
        if course.id in self.completed:
            return  # a second completion of the same course earns nothing and adds no minutes
        self.completed.add(course.id)
        self._add_minutes(e, course.duration_minutes)
        if course.primary_category not in self.rules.point_earning_categories:
            return
        s = self.s
        s.courses_completed += 1
        for area in {c.area for c in course.competencies}:
            s.competency_areas.add(area)
            s.courses_in_area[area] += 1
        title = f"'{course.name or course.id}'"
        if e.acbp is None:
            month = month_of(e.occurred_at, self.rules.timezone)
            self.capped_in_month[month] += 1
            if self.capped_in_month[month] > self.rules.monthly_cap:
                note = f"{title} is over the monthly cap of {self.rules.monthly_cap} courses in {month}"
                self._earn(e, "course_completion", 0, note)
                if e.assessment and e.assessment.passed:
                    self._earn(e, "assessment_passed", 0, note)
                return
        self._earn(e, "course_completion", points.course_completion, f"Completed course {title}")
        if e.assessment and e.assessment.passed:
            self._earn(e, "assessment_passed", points.assessment_passed, f"Passed the assessment of {title}")
        if e.acbp is not None:
            done = local_date(e.occurred_at, self.rules.timezone)
            if done <= e.acbp.end_date:
                self._earn(e, "acbp_bonus", points.acbp_bonus, f"{title} is on your ACBP plan, done on time")
            else:
                months = whole_months_between(e.acbp.end_date, done)
                penalty = (months + self.rules.late_penalty_base) * self.rules.late_penalty_per_month
                self._earn(e, "acbp_bonus", max(points.acbp_bonus - penalty, 0),
                           f"{title} is on your ACBP plan, done {months} whole month(s) after "
                           f"{e.acbp.end_date.isoformat()}: bonus reduced by {penalty}")

    def _course_enrolled(self, e: CourseEnrolled) -> None:
        if not self.enrolled:
            self.enrolled = True
            self._earn(e, "first_enrolment", self.rules.points.first_enrolment,
                       f"First enrolment, in '{e.course.name or e.course.id}'")

    def _course_rated(self, e: CourseRated) -> None:
        if e.course.id not in self.rated:
            self.rated.add(e.course.id)
            self.s.ratings += 1
            self._earn(e, "course_rating", self.rules.points.course_rating,
                       f"Rated course '{e.course.name or e.course.id}'")

    def _learning_time_spent(self, e: LearningTimeSpent) -> None:
        self._add_minutes(e, e.minutes)

    def _event_attended(self, e: EventAttended) -> None:
        if e.event.id in self.attended:
            return
        self.attended.add(e.event.id)
        self._add_minutes(e, e.event.duration_minutes)
        self.s.competency_areas.update(c.area for c in e.event.competencies)
        self._earn(e, "event_attended", self.rules.points.event_attended,
                   f"Attended '{e.event.name or e.event.id}'")

    def _learner_first_login(self, e: LearnerFirstLogin) -> None:
        if not self.logged_in:
            self.logged_in = True
            self._earn(e, "first_login", self.rules.points.first_login, "First login to iGOT Karmayogi")

    def _learner_upserted(self, e: LearnerUpserted) -> None:
        # A profile event is a full snapshot: the latest by occurred_at wins, field by field.
        for name in vars(self.s.profile):
            setattr(self.s.profile, name, getattr(e.learner, name, None))

    # --- shared steps ------------------------------------------------------------------------------
    def _earn(self, e: LearnerEvent, rule: str, points: int, note: str) -> None:
        s = self.s
        if self.boosts and points > 0:  # a campaign's points multiplier, for its window and its scope's orgs
            points, boost = boosted(points, self.boosts.get(e.learner.org_id, ()), e.occurred_at)
            if boost:
                note = f"{note} (x{boost.factor:g} during campaign '{boost.name}')"
        s.ledger.append(LedgerLine(e.id, rule, points, e.occurred_at, note, self.version))
        if points:
            s.points += points
            for period in periods_of(e.occurred_at, self.rules.timezone):
                s.points_by_period[period] += points
                s.reached_at[period] = e.occurred_at

    def _add_minutes(self, e: LearnerEvent, minutes: int) -> None:
        if minutes <= 0:
            return
        s, week = self.s, week_of(e.occurred_at, self.rules.timezone)
        s.learning_minutes += minutes
        for period in periods_of(e.occurred_at, self.rules.timezone):
            s.minutes_by_period[period] += minutes
        before = s.week_minutes[week]
        s.week_minutes[week] += minutes
        threshold = self.rules.clap_weekly_minutes
        if before < threshold <= s.week_minutes[week]:
            # Events come in time order, so this is the latest week so far: a run can only grow here.
            self.streak_ending[week] = self.streak_ending.get(shift_week(week, -1), 0) + 1
            s.clap_weeks.append(week)
            s.best_clap_streak = max(s.best_clap_streak, self.streak_ending[week])

    def _award_badges(self, e: LearnerEvent) -> None:
        for badge in self.catalogue:
            if badge.id not in self.s.badges and self.s.metric(badge.metric) >= badge.threshold:
                self.s.badges[badge.id] = BadgeAward(badge.id, e.id, e.occurred_at)


def evaluate(learner_id: str, events: Iterable[LearnerEvent], rules: "Rules | RuleBook",
             catalogue: Iterable[Badge], decisions: Optional[Mapping[str, str]] = None,
             boosts: Optional[Mapping[str, Sequence[Boost]]] = None) -> LearnerStanding:
    """The learner's standing from all their events: duplicates ignored, order by (occurred_at, id).

    `decisions` (event id -> "released" or "rejected") are the review decisions on held events: a held event
    is scored only once released, a rejected one never; a release of an event that is not held changes nothing.
    `rules` is one `Rules` (with `catalogue`) or a `RuleBook` (its versions' catalogues; `catalogue` unused):
    each event is scored by the version in force at its occurred_at.
    """
    return fold(learner_id, events, rules, catalogue, decisions, boosts).standing


@dataclass
class Folded:
    """What `fold` returns: the standing, and the fold's own state after the last event (a checkpoint's)."""
    standing: LearnerStanding
    state: dict


def fold(learner_id: str, events: Iterable[LearnerEvent], rules: "Rules | RuleBook", catalogue: Iterable[Badge],
         decisions: Optional[Mapping[str, str]] = None, boosts: Optional[Mapping[str, Sequence[Boost]]] = None, *,
         base: Optional[dict] = None, held: Optional[Mapping[str, abuse.Hold]] = None) -> Folded:
    """`evaluate`, optionally continued from `base`, the state of a fold of every event up to a horizon (a
    checkpoint, rules/checkpoint.py): `events` are then only the events after it, and `held` every held event
    (those up to the horizon too, rules/checkpoint.py holds_after), since the held count covers them all.
    Continuing from a checkpoint gives exactly what folding every event from scratch gives."""
    unique: dict = {}
    for event in events:
        unique.setdefault(event.id, event)
    decisions = decisions or {}
    if held is None:
        held = abuse.holds(unique.values(), rules)
    left_out = abuse.excluded(held, decisions)
    f = _Fold(learner_id, rules, catalogue, boosts)
    if base is not None:
        f.restore(base)
    for event in sorted(unique.values(), key=lambda ev: ev.order_key):
        if event.id not in left_out:
            f.apply(event)
    f.rejected += sum(1 for event_id, decision in decisions.items()
                      if decision == abuse.REJECTED and event_id in unique)
    f.s.held_events = len(abuse.pending(held, decisions))
    f.s.rejected_events = f.rejected
    last = max((event.occurred_at for event in unique.values()), default=None)
    return Folded(f.s, f.state(last))
