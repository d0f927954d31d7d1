"""Property tests: a learner's standing depends on their events, never on how or how often they arrived.

Random event streams for one to three learners (completions across a few months, some on an ACBP plan,
ratings, enrolments, time spent, webinars, first logins, profile updates), with moments clustered on IST
month and week edges. Property 1 checks the pure rules against permutations with duplicates, and against a
small independent reference of docs/brief.md's point and clap rules. Property 2 delivers the same stream through
the scoring use case in a random arrival order, in random batches, with duplicates, and compares the stored
result with a clean, time-ordered delivery.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.events import parse_event
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.rules.abuse import AbuseLimits
from chalicelib.rules.config import badge_catalogue, default_rules
from chalicelib.rules.learner import evaluate
from tests.rules_builders import (IST, NOW, adapters, attended, completion, enrolment, first_login, rating,
                                  time_spent, upserted)

UTC = timezone.utc
COURSES = {f"c{n}": "Course" for n in range(20)} | {"p1": "Program", "p2": "Curated Program"}
ACBP_ENDS = [None, None, None, None, None, "2024-09-30", "2024-10-31", "2024-11-15", "2024-12-31"]
AREAS = ["behavioural", "functional", "domain"]

# Moments on the edges that matter (IST midnight starting a month, a Monday, an ISO year), then near them.
EDGES = [datetime(2024, 10, 1, tzinfo=IST), datetime(2024, 11, 1, tzinfo=IST), datetime(2024, 12, 1, tzinfo=IST),
         datetime(2025, 1, 1, tzinfo=IST), datetime(2024, 10, 28, tzinfo=IST), datetime(2024, 12, 30, tzinfo=IST),
         datetime(2024, 10, 14, tzinfo=IST)]
START = datetime(2024, 9, 16, tzinfo=IST)  # a Monday
SPAN_MINUTES = 130 * 24 * 60

near_edge = st.builds(lambda edge, minutes: edge + timedelta(minutes=minutes), st.sampled_from(EDGES),
                      st.one_of(st.sampled_from([-1, 0, 1, -30, 30]), st.integers(-3 * 1440, 3 * 1440)))
anywhere = st.builds(lambda minutes: START + timedelta(minutes=minutes), st.integers(0, SPAN_MINUTES))


def around(focus: datetime, days: int):
    return st.builds(lambda minutes: (focus + timedelta(minutes=minutes)).astimezone(UTC),
                     st.integers(-days * 1440, days * 1440))


def moments(focus: datetime):
    """Mostly within a few weeks of one edge (so weeks chain into streaks), some anywhere."""
    near_focus = around(focus, 12)
    return st.sampled_from([near_focus, near_focus, near_edge, anywhere]).flatmap(lambda s: s).map(
        lambda m: m.astimezone(UTC))


written_in = st.sampled_from([IST, UTC, timezone(timedelta(hours=-4))])

course_ids = st.sampled_from(sorted(COURSES))
completions = st.tuples(st.just("completion"), course_ids, st.sampled_from(ACBP_ENDS), st.booleans(),
                        st.lists(st.sampled_from(AREAS), max_size=2), st.sampled_from([0, 15, 30, 45, 90]))
plain_completions = st.tuples(st.just("completion"), course_ids, st.just(None), st.booleans(),
                              st.lists(st.sampled_from(AREAS), max_size=2), st.just(30))
others = st.one_of(
    st.tuples(st.just("enrolment"), course_ids),
    st.tuples(st.just("rating"), course_ids, st.sampled_from([1.0, 3.5, 5.0])),
    st.tuples(st.just("time"), st.integers(1, 120)),
    st.tuples(st.just("webinar"), st.sampled_from(["w1", "w2", "w3"]), st.sampled_from([20, 45, 60])),
    st.tuples(st.just("login")),
    st.tuples(st.just("profile"), st.sampled_from(["Asha", "Ravi"])),
)
# Completions are what the cap and most badges are about: about half of all events.
event_specs = st.sampled_from([completions] * 6 + [others] * 7).flatmap(lambda kind: kind)


def build(n: int, learner: str, moment: datetime, zone, spec: tuple) -> dict:
    at, event_id = moment.astimezone(zone), f"e{n:03d}"
    kind, args = spec[0], spec[1:]
    if kind == "completion":
        course, acbp_end, passed, areas, minutes = args
        return completion(learner, course, at, acbp_end=acbp_end, passed=passed, category=COURSES[course],
                          areas=areas, minutes=minutes, id=event_id)
    if kind == "enrolment":
        return enrolment(learner, args[0], at, id=event_id)
    if kind == "rating":
        return rating(learner, args[0], at, args[1], id=event_id)
    if kind == "time":
        return time_spent(learner, args[0], at, id=event_id)
    if kind == "webinar":
        return attended(learner, args[0], at, minutes=args[1], id=event_id)
    if kind == "login":
        return first_login(learner, at, id=event_id)
    return upserted(learner, at, name=args[0], id=event_id)


@st.composite
def streams(draw, max_events: int = 40) -> list[dict]:
    learners = [f"u{n}" for n in range(1, draw(st.integers(1, 3)) + 1)]
    size, focus = draw(st.integers(1, max_events)), draw(st.sampled_from(EDGES))
    who = st.sampled_from([learners[0]] * 3 + learners[1:])  # one busy learner, so caps and streaks fill up
    specs = draw(st.lists(st.tuples(who, moments(focus), written_in, event_specs),
                          min_size=size, max_size=size))
    if draw(st.booleans()):
        # A burst of regular completions by the busy learner around the edge: fills the monthly cap.
        specs += draw(st.lists(st.tuples(st.just(learners[0]), around(focus, 10), written_in, plain_completions),
                               min_size=4, max_size=8))
    return [build(n, learner, moment, zone, spec) for n, (learner, moment, zone, spec) in enumerate(specs)]


@st.composite
def arrivals(draw, stream: list[dict]) -> list[dict]:
    """The stream in a random order with random duplicates (re-sent copies of the same events)."""
    order = draw(st.permutations(stream))
    copies = draw(st.lists(st.sampled_from(stream), max_size=len(stream)))
    result = list(order)
    for copy in copies:
        result.insert(draw(st.integers(0, len(result))), dict(copy))
    return result


def learners_of(events: list[dict]) -> list[str]:
    return sorted({e["learner"]["id"] for e in events})


def of(learner: str, events: list[dict]) -> list:
    return [parse_event(e) for e in events if e["learner"]["id"] == learner]


# --- an independent reference of docs/brief.md's points and claps ------------------------------------------------

def _instant(event: dict) -> datetime:
    return datetime.fromisoformat(event["occurred_at"]).astimezone(UTC)


def _india(event: dict) -> datetime:
    return _instant(event) + timedelta(hours=5, minutes=30)  # India has no daylight saving


def reference(events: list[dict]) -> dict:
    """Points (in total and per board period), learning minutes and claps of one learner's events, straight
    from docs/brief.md."""
    unique = {e["id"]: e for e in events}
    earnings, minutes_by_monday = [], Counter()  # earnings: (event, points) for each event that earns
    completed, rated, webinars, capped = set(), set(), set(), Counter()
    logged_in = enrolled = False
    for e in sorted(unique.values(), key=lambda e: (_instant(e), e["id"])):
        local = _india(e)
        monday = local.date() - timedelta(days=local.weekday())
        if e["type"] == "course.completed":
            course = e["course"]
            if course["id"] in completed:
                continue
            completed.add(course["id"])
            minutes_by_monday[monday] += course["duration_minutes"]
            if course["primary_category"] != "Course":
                continue
            if "acbp" not in e:
                capped[(local.year, local.month)] += 1
                if capped[(local.year, local.month)] > 4:
                    continue
            points = 5 + (5 if e.get("assessment", {}).get("passed") else 0)
            if "acbp" in e:
                end, done = date.fromisoformat(e["acbp"]["end_date"]), local.date()
                if done <= end:
                    points += 5
                else:
                    late = (done.year - end.year) * 12 + done.month - end.month - (done.day < end.day)
                    points += max(5 - (late + 1), 0)
            earnings.append((e, points))
        elif e["type"] == "course.rated" and e["course"]["id"] not in rated:
            rated.add(e["course"]["id"])
            earnings.append((e, 2))
        elif e["type"] == "course.enrolled" and not enrolled:
            enrolled = True
            earnings.append((e, 5))
        elif e["type"] == "learner.first_login" and not logged_in:
            logged_in = True
            earnings.append((e, 5))
        elif e["type"] == "event.attended" and e["event"]["id"] not in webinars:
            webinars.add(e["event"]["id"])
            minutes_by_monday[monday] += e["event"]["duration_minutes"]
            earnings.append((e, 5))
        elif e["type"] == "learning.time_spent":
            minutes_by_monday[monday] += e["minutes"]
    by_period, reached_at = Counter(), {}
    for e, points in earnings:
        local = _india(e)
        for period in ("all", "month:%d-%02d" % (local.year, local.month), "week:%d-W%02d" % local.isocalendar()[:2]):
            by_period[period] += points
            reached_at[period] = _instant(e)  # the score in a period was reached by its last earning event
    clap_mondays = sorted(m for m, total in minutes_by_monday.items() if total >= 60)
    best = run = 0
    for n, monday in enumerate(clap_mondays):
        run = run + 1 if n and monday - clap_mondays[n - 1] == timedelta(days=7) else 1
        best = max(best, run)
    return {"points": sum(points for _, points in earnings), "points_by_period": by_period,
            "reached_at": reached_at, "learning_minutes": sum(minutes_by_monday.values()),
            "best_clap_streak": best, "clap_weeks": ["%d-W%02d" % m.isocalendar()[:2] for m in clap_mondays]}


# --- property 1: the pure rules ------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_evaluate_ignores_arrival_order_and_duplicates(data):
    stream = data.draw(streams())
    arrived = data.draw(arrivals(stream))
    rules, catalogue = default_rules(), badge_catalogue()
    unlimited = dataclasses.replace(rules, abuse=AbuseLimits(0, rules.abuse.window_minutes))
    for learner in learners_of(stream):
        clean = evaluate(learner, of(learner, stream), rules, catalogue)
        messy = evaluate(learner, of(learner, arrived), rules, catalogue)
        assert messy.points == clean.points
        assert Counter(messy.ledger) == Counter(clean.ledger)
        assert {b: (a.event_id, a.awarded_at) for b, a in messy.badges.items()} == \
               {b: (a.event_id, a.awarded_at) for b, a in clean.badges.items()}
        assert messy.clap_weeks == clean.clap_weeks
        assert messy.best_clap_streak == clean.best_clap_streak
        assert messy.points_by_period == clean.points_by_period
        assert messy.reached_at == clean.reached_at
        assert messy == clean

        # Independent expectations and bookkeeping that must always hold. The reference knows no anti-abuse hold
        # (hypothesis can pile 20+ completions into one hour): it is compared with the rules without one.
        clean = evaluate(learner, of(learner, stream), unlimited, catalogue)
        expected = reference([e for e in stream if e["learner"]["id"] == learner])
        assert clean.points == expected["points"]
        assert +clean.points_by_period == expected["points_by_period"]
        assert clean.reached_at == expected["reached_at"]
        assert clean.learning_minutes == expected["learning_minutes"]
        assert clean.best_clap_streak == expected["best_clap_streak"]
        assert clean.clap_weeks == expected["clap_weeks"]
        assert sum(line.points for line in clean.ledger) == clean.points
        assert clean.points_by_period.get("all", 0) == clean.points
        assert sum(v for k, v in clean.points_by_period.items() if k.startswith("week:")) == clean.points
        assert sum(v for k, v in clean.points_by_period.items() if k.startswith("month:")) == clean.points
        assert len({line.key for line in clean.ledger}) == len(clean.ledger)
        assert all(line.points >= 0 for line in clean.ledger)
        for badge in catalogue:
            if badge.id in clean.badges:
                assert clean.metric(badge.metric) >= badge.threshold
            else:
                assert clean.metric(badge.metric) < badge.threshold


# --- property 2: through the scoring use case ----------------------------------------------------------------

def store(a, events: list[dict]) -> set[str]:
    for event in events:
        a.events.add(parse_event(event), NOW)
    return {f"learner:{e['learner']['id']}" for e in events}


def key_totals(ledger) -> dict:
    totals = Counter()
    for entry in ledger:
        totals[entry.key] += entry.amount
    return {k: v for k, v in totals.items() if v}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_service_converges_whatever_the_arrival_order(data):
    stream = data.draw(streams(max_events=30))
    arrived = data.draw(arrivals(stream))
    learners = learners_of(stream)

    # The clean delivery: one at a time in (occurred_at, id) order. Nothing ever needs correcting.
    clean = adapters()
    for event in sorted(stream, key=lambda e: (_instant(e), e["id"])):
        for s in store(clean, [event]):
            recompute_stream(s, clean)
    for learner in learners:
        assert all(entry.kind == "award" for entry in clean.learners.ledger(learner))

    # The messy delivery: random batches; recompute the streams a batch touched, or everyone, or (rarely)
    # nothing until a later batch.
    messy, pending, position = adapters(), set(), 0
    while position < len(arrived):
        size = data.draw(st.integers(1, 5), label="batch size")
        batch, position = arrived[position:position + size], position + size
        pending |= store(messy, batch)
        how = data.draw(st.sampled_from(["touched", "touched", "touched", "everyone", "later"]), label="recompute")
        if how == "later" and position < len(arrived):
            continue
        for s in sorted(pending) if how != "everyone" else [f"learner:{l}" for l in learners]:
            recompute_stream(s, messy)
        pending = set()

    for learner in learners:
        mine, theirs = messy.learners.get(learner), clean.learners.get(learner)
        assert mine.standing == theirs.standing
        assert mine.standing.badges == theirs.standing.badges
        assert key_totals(messy.learners.ledger(learner)) == key_totals(clean.learners.ledger(learner))
        assert sum(e.amount for e in messy.learners.ledger(learner)) == mine.standing.points
        assert sum(e.amount for e in clean.learners.ledger(learner)) == theirs.standing.points
        if not mine.standing.held_events:  # the reference knows no anti-abuse hold
            assert mine.standing.points == reference([e for e in stream if e["learner"]["id"] == learner])["points"]

    # Re-delivering everything appends nothing and saves nothing.
    before = {l: (messy.learners.ledger(l), messy.learners.get(l).version) for l in learners}
    for s in sorted(store(messy, arrived)):
        recompute_stream(s, messy)
    assert {l: (messy.learners.ledger(l), messy.learners.get(l).version) for l in learners} == before
