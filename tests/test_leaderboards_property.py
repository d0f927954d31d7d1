"""Property: whatever the events, their delivery order and duplicates, and whenever recomputes happen, every
board lists exactly what the pure rules say, in the right order with dense ranks, with the right previous
ranks, score counts and org statistics.

The oracle is built from `evaluate()` standings alone: sort by points descending, then by when the score was
reached, then learner id; dense rank.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.events import parse_event
from chalicelib.leaderboards import service as leaderboards
from chalicelib.scoring.pipeline import recompute_stream
from chalicelib.rules.learner import evaluate
from tests.rules_builders import (NOW, attended, completion, enrolment, first_login, ist, rating, time_spent,
                                  upserted)
from tests.rules_builders import adapters as fresh_adapters
from tests.test_leaderboards import ADMIN, add_orgs, oracle_ranks, org_event

# oa sits under a department of a ministry, ob under a state; oc is never described (its event is "missing")
TREE = [org_event("m", "ministry"), org_event("d", "department", "m"), org_event("oa", "mdo", "d"),
        org_event("s", "state"), org_event("ob", "mdo", "s")]
SCOPES = {"oa": ["org:oa", "dept:d", "ministry:m", "national"], "ob": ["org:ob", "state:s", "national"],
          "oc": ["org:oc", "national"]}
PARENTS = {"oa": ("dept:d", "ministry:m"), "ob": ("state:s",), "oc": ()}
START = ist(2024, 10, 20, 0, 0)  # a Sunday: the moments below cross weeks and the end of October

moments = st.builds(lambda day, hour, minute: START + timedelta(days=day, hours=hour, minutes=minute),
                    st.integers(0, 16), st.sampled_from([0, 5, 23]), st.sampled_from([0, 29, 30, 59]))
orgs = st.sampled_from(["oa", "ob", "oc"])
kinds = st.sampled_from(["completion", "completion", "completion", "acbp", "rating", "login", "enrol", "webinar",
                         "time", "profile"])
specs = st.tuples(kinds, st.integers(0, 7), st.integers(0, 6), moments, orgs, st.integers(1, 150))


def build(n: int, spec, learners: int) -> dict:
    kind, who, item, at, org, minutes = spec
    learner, eid = f"u{who % learners}", f"e{n:03d}"
    if kind == "completion":
        return completion(learner, f"c{item}", at, org=org, id=eid, passed=item % 2 == 0)
    if kind == "acbp":
        return completion(learner, f"c{item}", at, acbp_end="2024-10-25", org=org, id=eid)
    if kind == "rating":
        return rating(learner, f"c{item % 4}", at, org=org, id=eid)
    if kind == "login":
        return first_login(learner, at, org=org, id=eid)
    if kind == "enrol":
        return enrolment(learner, f"c{item}", at, org=org, id=eid)
    if kind == "webinar":
        return attended(learner, f"w{item % 3}", at, minutes=minutes % 90, org=org, id=eid)
    if kind == "time":
        return time_spent(learner, minutes, at, org=org, id=eid)
    return upserted(learner, at, name=f"Learner {who}", org=org, id=eid)


@st.composite
def scenarios(draw):
    learners = draw(st.integers(3, 8))
    events = [build(n, spec, learners) for n, spec in enumerate(draw(st.lists(specs, min_size=1, max_size=30)))]
    extras = draw(st.lists(st.integers(0, len(events) - 1), max_size=10))  # duplicates, delivered again
    order = draw(st.permutations(list(range(len(events))) + extras))
    recompute_after = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    limit = draw(st.sampled_from([1, 2, 3, 100]))
    return events, order, recompute_after, limit


def _oracle_board(standings, scope: str, period: str) -> list[tuple[str, int, int]]:
    on = [s for s in standings.values() if scope in SCOPES[s.profile.org_id] and s.points_by_period.get(period, 0) > 0]
    on.sort(key=lambda s: (-s.points_by_period[period], s.reached_at[period], s.learner_id))
    points = [s.points_by_period[period] for s in on]
    return [(s.learner_id, p, r) for s, p, r in zip(on, points, oracle_ranks(points))]


def _walk(adapters, scope: str, period: str, limit: int) -> tuple[list[dict], int]:
    seen, cursor = [], None
    for _ in range(100):
        query = {"scope": scope, "period": period, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = leaderboards.learner_board(query, adapters, NOW, ADMIN)
        seen += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, page["total"]
    raise AssertionError("the pages never end")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_boards_match_the_pure_rules_whatever_the_delivery(scenario):
    events, order, recompute_after, limit = scenario
    a = fresh_adapters()
    add_orgs(a, TREE)
    for position, index in enumerate(order):
        event = parse_event(events[index])
        a.events.add(event, NOW)
        if recompute_after[position]:
            recompute_stream(f"learner:{event.learner.id}", a)
    by_learner = defaultdict(list)
    for d in events:
        by_learner[d["learner"]["id"]].append(parse_event(d))
    for learner in sorted(by_learner):  # the queue always delivers a last recompute for each stream
        recompute_stream(f"learner:{learner}", a)
    standings = {learner: evaluate(learner, evs, a.rules, a.catalogue) for learner, evs in by_learner.items()}

    periods = {p for s in standings.values() for p in list(s.points_by_period) + list(s.minutes_by_period)}
    scopes = {scope for s in standings.values() for scope in SCOPES[s.profile.org_id]}
    for period in sorted(periods):
        previous = leaderboards.previous_period(period)
        for scope in sorted(scopes):
            want = _oracle_board(standings, scope, period)
            seen, total = _walk(a, scope, period, limit)
            assert [(e["learner_id"], e["points"], e["rank"]) for e in seen] == want, (scope, period)
            assert total == len(want) == sum(1 for s in standings.values()
                                             if scope in SCOPES[s.profile.org_id]
                                             and s.points_by_period.get(period, 0) > 0)
            board = f"{scope}|{period}"
            assert a.boards.scores(board) == Counter(p for _, p, _ in want), board
            assert all(e["org_id"] == standings[e["learner_id"]].profile.org_id for e in seen)
            was = {learner: rank for learner, _, rank in _oracle_board(standings, scope, previous)} if previous else {}
            assert [e["previous_rank"] for e in seen] == [was.get(e["learner_id"]) for e in seen], (scope, period)

    # org statistics: headcount, and per period the active learners, points and minutes; each under its parents
    expected = defaultdict(lambda: [0, 0, 0])
    for s in standings.values():
        org = s.profile.org_id
        expected[(leaderboards.MEMBERS, org)][0] += 1
        for period in set(s.points_by_period) | set(s.minutes_by_period):
            points, minutes = s.points_by_period.get(period, 0), s.minutes_by_period.get(period, 0)
            if points > 0 or minutes > 0:
                row = expected[(period, org)]
                row[0], row[1], row[2] = row[0] + 1, row[1] + points, row[2] + minutes
    found = {}
    for period in periods | {leaderboards.MEMBERS}:
        for stat in a.boards.org_stats(period):
            if (stat.learners, stat.points, stat.minutes) != (0, 0, 0):
                found[(period, stat.org_id)] = [stat.learners, stat.points, stat.minutes]
            assert stat.parents == PARENTS[stat.org_id], (period, stat)
    assert found == dict(expected)
