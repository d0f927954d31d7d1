"""Weekly claps (streaks of Monday-Sunday IST weeks with at least 60 learning minutes) and every badge in
badges.toml, each awarded once by the event that crosses its threshold."""
import random
from datetime import date, datetime, timedelta

import pytest

from chalicelib.rules.config import badge_catalogue
from chalicelib.rules.learner import current_clap_streak
from tests.rules_builders import (IST, adapters, attended, completion, deliver, deliver_one_by_one, ist, models,
                                  rating, score, time_spent)

L = "u1"
MONDAY = date(2024, 9, 2)  # a Monday: ISO week 2024-W36


def week_start(n: int, hour: int = 10, day: int = 0) -> datetime:
    """A moment in the n-th week after MONDAY (day 0 = Monday, 6 = Sunday)."""
    d = MONDAY + timedelta(weeks=n, days=day)
    return datetime(d.year, d.month, d.day, hour, 0, tzinfo=IST)


def week_key(n: int) -> str:
    year, week, _ = (MONDAY + timedelta(weeks=n)).isocalendar()
    return f"{year}-W{week:02d}"


def clap_week(n: int, minutes=(30, 30)) -> list[dict]:
    """Time-spent events on Tuesday, Wednesday... of week n; the last one takes the week to sum(minutes)."""
    return [time_spent(L, m, week_start(n, day=1 + k), content=f"w{n}-{k}") for k, m in enumerate(minutes)]


# --- weekly claps -------------------------------------------------------------------------------------------

def test_sixty_minutes_in_a_week_earn_a_clap_and_fifty_nine_do_not():
    assert score(clap_week(0, (30, 29))).clap_weeks == []
    s = score(clap_week(0, (30, 30)) + clap_week(1, (59,)))
    assert s.clap_weeks == [week_key(0)] == ["2024-W36"]
    assert s.best_clap_streak == 1
    assert s.week_minutes == {"2024-W36": 60, "2024-W37": 59}


def test_course_duration_time_spent_and_webinar_minutes_add_up():
    monday = week_start(0)
    events = [completion(L, "c1", monday, minutes=25), time_spent(L, 20, monday + timedelta(days=1)),
              attended(L, "web-1", monday + timedelta(days=2), minutes=15)]
    assert score(events).clap_weeks == [week_key(0)]
    assert score(events[:2]).clap_weeks == []


def test_minutes_of_other_categories_count_but_repeats_do_not():
    monday = week_start(0)
    base = [completion(L, "prog", monday, category="Program", minutes=40)]
    assert score(base + [time_spent(L, 20, monday + timedelta(days=1))]).clap_weeks == [week_key(0)]
    # The same course completed again, the same webinar attended again: no more minutes.
    repeats = [completion(L, "c1", monday, minutes=40), completion(L, "c1", monday + timedelta(days=1), minutes=40),
               attended(L, "w", monday + timedelta(days=2), minutes=10),
               attended(L, "w", monday + timedelta(days=3), minutes=10)]
    s = score(repeats)
    assert s.learning_minutes == 50
    assert s.clap_weeks == []


def test_sunday_2359_and_monday_0000_ist_are_different_weeks():
    # 27 Oct 2024 is a Sunday. Both moments are on Sunday in UTC (18:29 and 18:30).
    sunday = time_spent(L, 30, "2024-10-27T23:59:00+05:30")
    monday = time_spent(L, 30, "2024-10-28T00:00:00+05:30")
    s = score([sunday, monday])
    assert s.week_minutes == {"2024-W43": 30, "2024-W44": 30}
    assert s.clap_weeks == []
    # Written in UTC, the same instants still split at IST midnight.
    s = score([time_spent(L, 30, "2024-10-27T18:29:59Z"), time_spent(L, 30, "2024-10-27T18:30:00Z")])
    assert s.week_minutes == {"2024-W43": 30, "2024-W44": 30}
    # Sunday 23:59 and Sunday 00:00 are one week.
    s = score([sunday, time_spent(L, 30, "2024-10-27T00:00:00+05:30")])
    assert s.clap_weeks == ["2024-W43"]


def test_consecutive_weeks_grow_the_streak():
    s = score(clap_week(0) + clap_week(1) + clap_week(2))
    assert s.clap_weeks == ["2024-W36", "2024-W37", "2024-W38"]
    assert s.best_clap_streak == 3
    assert current_clap_streak(s.clap_weeks, "2024-W38") == 3
    # The running week without a clap yet does not break the streak...
    assert current_clap_streak(s.clap_weeks, "2024-W39") == 3
    # ...but once it is over without one, the streak is gone.
    assert current_clap_streak(s.clap_weeks, "2024-W40") == 0


def test_a_week_below_sixty_resets_the_streak_and_the_best_is_kept():
    events = (clap_week(0) + clap_week(1) + clap_week(2) + clap_week(3, (45,))
              + clap_week(4) + clap_week(5))
    s = score(events)
    assert s.clap_weeks == ["2024-W36", "2024-W37", "2024-W38", "2024-W40", "2024-W41"]
    assert s.best_clap_streak == 3
    assert current_clap_streak(s.clap_weeks, "2024-W41") == 2
    assert current_clap_streak(s.clap_weeks, "2024-W42") == 2
    assert current_clap_streak(s.clap_weeks, "2024-W43") == 0
    # A longer run later replaces the best.
    s = score(events + clap_week(6) + clap_week(7))
    assert s.best_clap_streak == 4


def test_a_week_without_any_event_also_breaks_the_streak():
    s = score(clap_week(0) + clap_week(1) + clap_week(3))
    assert s.best_clap_streak == 2
    assert current_clap_streak(s.clap_weeks, week_key(3)) == 1


def test_streaks_run_across_the_iso_year_boundary():
    # 2024-W51 (16 Dec), 2024-W52 (23 Dec), 2025-W01 (Mon 30 Dec 2024), 2025-W02 (6 Jan 2025).
    events = [time_spent(L, 60, "2024-12-18T10:00:00+05:30"), time_spent(L, 60, "2024-12-29T23:59:00+05:30"),
              time_spent(L, 60, "2024-12-30T00:00:00+05:30"), time_spent(L, 60, "2025-01-12T23:00:00+05:30")]
    s = score(events)
    assert s.clap_weeks == ["2024-W51", "2024-W52", "2025-W01", "2025-W02"]
    assert s.best_clap_streak == 4
    assert s.badges["claps_4"].event_id == events[3]["id"]
    assert current_clap_streak(s.clap_weeks, "2025-W03") == 4


def test_streaks_run_across_a_53_week_year():
    # 2020-W52 (21 Dec), 2020-W53 (28 Dec - 3 Jan 2021), 2021-W01 (4 Jan 2021).
    events = [time_spent(L, 60, "2020-12-22T10:00:00+05:30"), time_spent(L, 60, "2021-01-03T21:00:00+05:30"),
              time_spent(L, 60, "2021-01-04T09:00:00+05:30")]
    s = score(events)
    assert s.clap_weeks == ["2020-W52", "2020-W53", "2021-W01"]
    assert s.best_clap_streak == 3
    assert current_clap_streak(s.clap_weeks, "2021-W02") == 3
    assert current_clap_streak(["2020-W52", "2021-W01"], "2021-W01") == 1  # W53 missing: no streak across it


def test_current_clap_streak_ignores_the_order_of_weeks():
    assert current_clap_streak(["2024-W38", "2024-W36", "2024-W37"], "2024-W38") == 3
    assert current_clap_streak([], "2024-W38") == 0
    assert current_clap_streak(["2024-W30"], "2024-W38") == 0


def test_claps_do_not_depend_on_arrival_order():
    events = clap_week(0) + clap_week(1) + clap_week(2, (20, 20, 20))
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    s = score(shuffled)
    assert s.clap_weeks == ["2024-W36", "2024-W37", "2024-W38"]
    assert s.best_clap_streak == 3


# --- badges ---------------------------------------------------------------------------------------------

def completions(n: int, start: datetime = ist(2024, 1, 1, 9), **kw) -> list[dict]:
    """n distinct courses, one a day, in time order."""
    return [completion(L, f"c{k:03d}", start + timedelta(days=k), **kw) for k in range(n)]


def area_courses(area: str) -> tuple[list[dict], dict]:
    """Five courses in `area` among things that must not count toward it; returns (events, the fifth)."""
    other = {"behavioural": "domain", "functional": "behavioural", "domain": "functional"}[area]
    day = lambda n: ist(2024, 10, 1 + n, 10)  # noqa: E731
    events = [
        completion(L, "a1", day(0), areas=[area]),
        completion(L, "a2", day(1), areas=[area, area]),            # two competencies, one area: once
        completion(L, "o1", day(2), areas=[other]),
        completion(L, "p1", day(3), areas=[area], category="Program"),  # not a Course
        attended(L, "web", day(4), areas=[area]),                  # a webinar is not a course
        completion(L, "a1", day(5), areas=[area]),                  # a repeat of a1
        completion(L, "a3", day(6), areas=[other, area]),
        completion(L, "a4", day(7), areas=[area]),
        completion(L, "o2", day(8), areas=[other]),
        completion(L, "a5", day(9), areas=[area]),                  # the fifth course in the area
        completion(L, "a6", day(10), areas=[area]),
    ]
    return events, events[9]


def hours(threshold_hours: int) -> tuple[list[dict], dict]:
    """Learning minutes from courses, time spent and webinars, crossing threshold_hours at a known event."""
    minutes = threshold_hours * 60
    events = [completion(L, "c1", ist(2024, 10, 1), minutes=59), attended(L, "w1", ist(2024, 10, 2), minutes=61),
              attended(L, "w1", ist(2024, 10, 2, 15), minutes=500)]  # repeat webinar: no minutes
    so_far, day = 120, 3
    while so_far + 1000 < minutes:
        events.append(time_spent(L, 1000, ist(2024, 10, 1) + timedelta(days=day)))
        so_far, day = so_far + 1000, day + 1
    events.append(time_spent(L, minutes - so_far - 1, ist(2024, 10, 1) + timedelta(days=day)))
    crossing = time_spent(L, 1, ist(2024, 10, 1) + timedelta(days=day + 1))  # exactly the threshold
    events += [crossing, time_spent(L, 30, ist(2024, 10, 1) + timedelta(days=day + 2))]
    return events, crossing


def streak(weeks: int) -> tuple[list[dict], dict]:
    """A run of weeks - 1, a gap, then a run of exactly `weeks` clap weeks, then one more."""
    events = []
    for n in range(weeks - 1):
        events += clap_week(n)
    start = weeks  # week weeks - 1 has nothing
    for n in range(start, start + weeks):
        events += clap_week(n)
    crossing = events[-1]
    events += clap_week(start + weeks, (60,))
    return events, crossing


def courses(n: int) -> tuple[list[dict], dict]:
    events = [completion(L, "prog", ist(2023, 12, 1), category="Program")] + completions(n + 2)
    return events, events[n]


def ratings() -> tuple[list[dict], dict]:
    first = rating(L, "c1", ist(2024, 10, 3))
    return [rating(L, "c1", ist(2024, 10, 4)), completion(L, "c1", ist(2024, 10, 1)), first,
            rating(L, "c2", ist(2024, 10, 5))], first


BADGE_CASES = {
    "first_course": lambda: courses(1),
    "courses_10": lambda: courses(10),
    "courses_25": lambda: courses(25),
    "courses_50": lambda: courses(50),
    "adarsh_karmayogi": lambda: courses(100),
    "behavioural_5": lambda: area_courses("behavioural"),
    "functional_5": lambda: area_courses("functional"),
    "domain_5": lambda: area_courses("domain"),
    "hours_10": lambda: hours(10),
    "hours_50": lambda: hours(50),
    "hours_100": lambda: hours(100),
    "claps_4": lambda: streak(4),
    "claps_12": lambda: streak(12),
    "claps_26": lambda: streak(26),
    "first_rating": ratings,
}

# Independent of badges.toml: the thresholds the brief (docs/brief.md) names.
EXPECTED_THRESHOLDS = {
    "first_course": ("courses_completed", 1), "courses_10": ("courses_completed", 10),
    "courses_25": ("courses_completed", 25), "courses_50": ("courses_completed", 50),
    "adarsh_karmayogi": ("courses_completed", 100),
    "behavioural_5": ("courses_in_area.behavioural", 5), "functional_5": ("courses_in_area.functional", 5),
    "domain_5": ("courses_in_area.domain", 5),
    "hours_10": ("learning_minutes", 600), "hours_50": ("learning_minutes", 3000),
    "hours_100": ("learning_minutes", 6000),
    "claps_4": ("best_clap_streak", 4), "claps_12": ("best_clap_streak", 12), "claps_26": ("best_clap_streak", 26),
    "first_rating": ("ratings", 1),
}


def test_every_badge_in_the_catalogue_has_a_case_here():
    catalogue = {b.id: (b.metric, b.threshold) for b in badge_catalogue()}
    assert catalogue == EXPECTED_THRESHOLDS
    assert set(BADGE_CASES) == set(catalogue)


def by_time(events: list[dict]) -> list[dict]:
    return sorted(events, key=lambda e: (models([e])[0].occurred_at, e["id"]))


@pytest.mark.parametrize("badge_id", sorted(BADGE_CASES))
def test_a_badge_is_awarded_by_the_event_that_crosses_its_threshold(badge_id):
    events, crossing = BADGE_CASES[badge_id]()
    ordered = by_time(events)
    cut = ordered.index(crossing)
    before = score(ordered[:cut])
    assert badge_id not in before.badges
    at = score(ordered[:cut + 1])
    assert at.badges[badge_id].event_id == crossing["id"]
    shuffled = events[:]
    random.Random(badge_id).shuffle(shuffled)
    final = score(shuffled + shuffled[:3])
    award = final.badges[badge_id]
    assert (award.badge_id, award.event_id) == (badge_id, crossing["id"])
    assert award.awarded_at == models([crossing])[0].occurred_at


@pytest.mark.parametrize("badge_id", ["first_course", "courses_10", "behavioural_5", "hours_10", "claps_4",
                                      "first_rating"])
def test_a_badge_is_announced_once_through_the_service(badge_id):
    events, crossing = BADGE_CASES[badge_id]()
    a = adapters()
    deliver_one_by_one(a, by_time(events))
    deliver_one_by_one(a, events)  # everything again
    facts = [f for f in a.learners.facts.values() if f.payload["badge_id"] == badge_id]
    assert len(facts) == 1
    assert facts[0].payload["event_id"] == crossing["id"]
    assert a.learners.get(L).standing.badges[badge_id].event_id == crossing["id"]


def test_badges_are_not_awarded_below_their_thresholds():
    s = score(completions(9, areas=["domain"])[:4] + clap_week(0) + clap_week(1) + clap_week(2))
    assert set(s.badges) == {"first_course"}


def test_only_the_badges_earned_are_awarded():
    events = completions(10)
    s = score(events)
    assert {b: a.event_id for b, a in s.badges.items()} == {"first_course": events[0]["id"],
                                                           "courses_10": events[9]["id"]}


def test_capped_completions_still_count_toward_course_badges():
    # Ten courses in one month: only four earn points, all ten are completed courses.
    events = [completion(L, f"c{n}", ist(2024, 10, 1 + n)) for n in range(10)]
    s = score(events)
    assert s.points == 20
    assert s.badges["courses_10"].event_id == events[9]["id"]


def test_a_badge_goes_to_the_right_event_when_events_arrive_out_of_order():
    events = completions(12)
    a = adapters()
    deliver_one_by_one(a, list(reversed(events)))
    s = a.learners.get(L).standing
    assert s.badges["first_course"].event_id == events[0]["id"]
    assert s.badges["courses_10"].event_id == events[9]["id"]
    assert s.badges["courses_10"].awarded_at == models([events[9]])[0].occurred_at
    facts = [f.payload["badge_id"] for f in a.learners.facts.values()]
    assert sorted(facts) == ["courses_10", "first_course"]


def test_a_late_clap_week_completes_a_streak_and_the_badge_goes_to_the_late_event():
    # Weeks 0, 1, 3 arrive first; week 2 arrives last and joins them into a 4-week run.
    early = clap_week(0, (60,)) + clap_week(1, (60,)) + clap_week(3, (60,))
    late = clap_week(2, (60,))
    a = adapters()
    deliver_one_by_one(a, early)
    assert "claps_4" not in a.learners.get(L).standing.badges
    deliver_one_by_one(a, late)
    s = a.learners.get(L).standing
    # In time order, week 3's event is the one that takes the run to 4 weeks, though week 2's arrived last.
    assert s.best_clap_streak == 4
    assert s.badges["claps_4"].event_id == early[2]["id"]


def test_the_first_rating_badge_goes_to_the_earliest_rating_even_if_it_arrives_last():
    first, second = rating(L, "c1", ist(2024, 10, 1)), rating(L, "c2", ist(2024, 10, 2))
    a = adapters()
    deliver_one_by_one(a, [second])
    assert a.learners.get(L).standing.badges["first_rating"].event_id == second["id"]
    deliver(a, [first])
    assert a.learners.get(L).standing.badges["first_rating"].event_id == first["id"]
    assert a.learners.get(L).standing.points == 4
