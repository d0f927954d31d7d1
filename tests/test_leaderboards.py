"""Leaderboards at the use-case level, on the in-memory adapters: learner boards for every scope and period
(dense ranks, ties, previous ranks, around-me, cursors), org comparisons by size, and idempotency.

Every expected value is worked out here from the events a test sends (the points rules of docs/brief.md), never
copied from what the code returns.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Optional

import pytest

from chalicelib.identity.tokens import Principal
from chalicelib.errors import ApiError
from chalicelib.events import parse_event
from chalicelib.leaderboards import service as leaderboards
from chalicelib.leaderboards.boards import size_category
from chalicelib.leaderboards.settings import board_settings
from chalicelib.learners.service import learner_summary
from chalicelib.scoring.pipeline import recompute_stream
from tests.rules_builders import (NOW, attended, completion, deliver, deliver_one_by_one, enrolment, first_login,
                                  ist, rating, time_spent, upserted)
from tests.rules_builders import adapters as fresh_adapters, run_rescore_jobs

# --- helpers -----------------------------------------------------------------------------------------------

ADMIN = Principal("admin-1", None, frozenset({"national_admin"}))  # may read any learner


def org_event(org_id: str, kind: str, parent: Optional[str] = None, at: str = "2024-01-01T09:00:00+05:30",
              name: Optional[str] = None) -> dict:
    return {"id": f"org-{org_id}-{at}".replace(":", "_").replace("+", "_"), "type": "org.upserted",
            "occurred_at": at, "org": {"id": org_id, "name": name or f"Org {org_id}", "type": kind,
                                       "parent_id": parent}}


def add_orgs(adapters, events: list[dict]) -> None:
    for d in events:
        adapters.events.add(parse_event(d), NOW)
        recompute_stream(f"org:{d['org']['id']}", adapters)


def earn(learner: str, points: int, at: datetime, org: str, tag: str = "x") -> list[dict]:
    """Events worth exactly `points` (ratings at 2, webinars at 5, all with no minutes), one a minute from
    `at`: the last one is when the learner reaches the score. `tag` keeps course and webinar ids apart."""
    ratings = (points % 5) * 3 % 5  # 2 * ratings = points (mod 5)
    webinars, rest = divmod(points - 2 * ratings, 5)
    assert rest == 0 and webinars >= 0, points
    events = [rating(learner, f"{tag}-r{n}", at + timedelta(minutes=n), org=org) for n in range(ratings)]
    events += [attended(learner, f"{tag}-w{n}", at + timedelta(minutes=ratings + n), minutes=0, org=org)
               for n in range(webinars)]
    return events


def reached(at: datetime, points: int) -> datetime:
    """When the learner of earn(..., points, at) reaches the score: the minute of the last event."""
    ratings = (points % 5) * 3 % 5
    return at + timedelta(minutes=ratings + (points - 2 * ratings) // 5 - 1)


def board(adapters, scope: str, period: str = "all", now: datetime = ist(2024, 10, 30), **query) -> dict:
    return leaderboards.learner_board({"scope": scope, "period": period, **{k: str(v) for k, v in query.items()}},
                                      adapters, now, ADMIN)


def rows(body: dict, *fields: str) -> list[tuple]:
    fields = fields or ("learner_id", "points", "rank")
    return [tuple(e[f] for f in fields) for e in body["entries"]]


def walk(adapters, scope: str, period: str, limit: int, now=ist(2024, 10, 30)) -> list[dict]:
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = board(adapters, scope, period, now, **query)
        pages += 1
        assert len(page["entries"]) <= limit and (page["entries"] or pages == 1)
        seen += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert pages < 100


def oracle_ranks(points: list[int]) -> list[int]:
    """Dense ranks of a list already sorted by points, descending."""
    ranks, rank = [], 0
    for n, p in enumerate(points):
        if n == 0 or p != points[n - 1]:
            rank += 1
        ranks.append(rank)
    return ranks


def snapshot(adapters) -> tuple:
    store = adapters.boards
    return (copy.deepcopy(store.entries), {b: +c for b, c in store.counts.items() if +c},
            {k: s for k, s in store.stats.items()})


@pytest.fixture
def a():
    return fresh_adapters()


# --- 1. dense ranks, ties, who reached the score first ----------------------------------------------------

def _tie_events():
    """A 42, B 25 (reached 10 Oct), C 25 (started first, reached it only on 12 Oct), D 10, E only time spent.
    B's id sorts after C's: only 'who reached the score first' can put B ahead."""
    org = "org_tie"
    A, B, C, D, E = "u-amar", "u-zara", "u-abel", "u-dev", "u-esha"
    a_events = ([first_login(A, ist(2024, 10, 2, 9), org=org), enrolment(A, "c-a0", ist(2024, 10, 2, 9, 5), org=org)]
                + [completion(A, f"c-a{n}", ist(2024, 10, 3, 9, n), org=org) for n in range(4)]  # 4 x 5, the cap
                + [rating(A, f"c-a{n}", ist(2024, 10, 4, 9, n), org=org) for n in range(6)])  # 6 x 2
    b_events = ([first_login(B, ist(2024, 10, 10, 9), org=org)]
                + [completion(B, f"c-b{n}", ist(2024, 10, 10, 10, n), org=org) for n in range(4)])
    c_events = ([completion(C, f"c-c{n}", ist(2024, 10, 1, 8, n), org=org) for n in range(3)]  # 15 on 1 Oct
                + [rating(C, f"c-c{n}", ist(2024, 10, 1, 9, n), org=org) for n in range(3)]  # 21
                + [rating(C, "c-c3", ist(2024, 10, 11, 9), org=org),  # 23
                   rating(C, "c-c4", ist(2024, 10, 12, 9), org=org)])  # 25, after B
    d_events = [completion(D, f"c-d{n}", ist(2024, 10, 5, 9, n), org=org) for n in range(2)]
    e_events = [time_spent(E, 300, ist(2024, 10, 6, 9), org=org)]
    return org, (A, B, C, D, E), {A: a_events, B: b_events, C: c_events, D: d_events, E: e_events}


EXPECTED_TIES = [("u-amar", 42, 1), ("u-zara", 25, 2), ("u-abel", 25, 2), ("u-dev", 10, 3)]


@pytest.mark.parametrize("order", ["later learner first", "earlier learner first", "one event at a time, reversed"])
def test_dense_ranks_with_ties_go_to_who_reached_the_score_first(a, order):
    org, (A, B, C, D, E), events = _tie_events()
    if order == "later learner first":
        deliver(a, events[C] + events[E] + events[D] + events[B] + events[A])
    elif order == "earlier learner first":
        deliver(a, events[A] + events[B] + events[C] + events[D] + events[E])
    else:
        everything = events[A] + events[B] + events[C] + events[D] + events[E]
        deliver_one_by_one(a, list(reversed(everything)))
    for scope in (f"org:{org}", "national"):
        for period in ("all", "month:2024-10"):
            body = board(a, scope, period)
            assert rows(body) == EXPECTED_TIES, (scope, period)
            assert body["total"] == 4  # E (time only) is on no page and in no total
            assert body["scope"] == scope and body["period"] == period and body["next_cursor"] is None
    # the weeks: B and C fall in different weeks (W41 holds B and C's last ratings: 11 and 12 Oct are W41)
    assert rows(board(a, "national", "week:2024-W41")) == [(B, 25, 1), (C, 4, 2)]
    assert rows(board(a, "national", "week:2024-W40")) == [(A, 42, 1), (C, 21, 2), (D, 10, 3)]
    assert a.boards.scores(f"org:{org}|all") == {42: 1, 25: 2, 10: 1}
    # E is on the org board (for participation) with minutes but no rank, and on no other board
    e_entry = a.boards.current(E, [f"org:{org}|all", "national|all"])
    assert list(e_entry) == [f"org:{org}|all"] and (e_entry[f"org:{org}|all"].points,
                                                    e_entry[f"org:{org}|all"].minutes) == (0, 300)


def test_the_names_come_from_the_profiles(a):
    deliver(a, [upserted("u1", ist(2024, 9, 1), name="Asha Rao", org="o1")] + earn("u1", 7, ist(2024, 10, 1), "o1")
            + earn("u2", 5, ist(2024, 10, 1), "o1"))
    assert rows(board(a, "org:o1"), "learner_id", "name", "org_id", "points", "rank", "previous_rank") == [
        ("u1", "Asha Rao", "o1", 7, 1, None), ("u2", None, "o1", 5, 2, None)]


def test_equal_scores_reached_at_the_same_moment_are_listed_by_learner_id(a):
    at = ist(2024, 10, 7, 10)
    deliver(a, earn("u-b", 10, at, "o1") + earn("u-a", 10, at, "o1") + earn("u-c", 12, at, "o1"))
    assert rows(board(a, "national")) == [("u-c", 12, 1), ("u-a", 10, 2), ("u-b", 10, 2)]


def test_points_that_go_down_move_the_learner_down(a):
    """A late completion earlier in the month takes the fourth course over the cap: its week loses 5."""
    deliver(a, [completion("u1", f"c{n}", ist(2024, 10, 8 + n, 9), org="o1") for n in range(4)]  # W41: 20
            + earn("u2", 17, ist(2024, 10, 8), "o1"))
    assert rows(board(a, "national", "week:2024-W41")) == [("u1", 20, 1), ("u2", 17, 2)]
    deliver(a, [completion("u1", "c-early", ist(2024, 10, 1, 9), org="o1")])  # W40, now the 1st of 5
    assert rows(board(a, "national", "week:2024-W41")) == [("u2", 17, 1), ("u1", 15, 2)]
    assert rows(board(a, "national", "week:2024-W40")) == [("u1", 5, 1)]
    assert rows(board(a, "national", "month:2024-10")) == [("u1", 20, 1), ("u2", 17, 2)]
    assert a.boards.scores("national|week:2024-W41") == {17: 1, 15: 1}


# --- 2. previous rank -------------------------------------------------------------------------------------

def _two_weeks(a):
    """W43 (21-27 Oct): X 20, Y 10. W44 (28 Oct - 3 Nov, this week): Y 30, X 15, Z 5. September: Y 12."""
    deliver(a, earn("u-x", 20, ist(2024, 10, 22), "o1", "w43") + earn("u-y", 10, ist(2024, 10, 23), "o1", "w43")
            + earn("u-y", 30, ist(2024, 10, 29), "o1", "w44") + earn("u-x", 15, ist(2024, 10, 29), "o1", "w44")
            + earn("u-z", 5, ist(2024, 10, 30, 8), "o2", "w44") + earn("u-y", 12, ist(2024, 9, 10), "o1", "sep"))


def test_previous_rank_is_last_weeks_rank_on_the_same_scope(a):
    _two_weeks(a)
    expected = [("u-y", 30, 1, 2), ("u-x", 15, 2, 1), ("u-z", 5, 3, None)]
    now = ist(2024, 10, 30, 12)
    for period in ("week", "week:2024-W44"):
        body = board(a, "national", period, now)
        assert body["period"] == "week:2024-W44"
        assert rows(body, "learner_id", "points", "rank", "previous_rank") == expected
    assert rows(board(a, "org:o1", "week", now), "learner_id", "points", "rank", "previous_rank") == [
        ("u-y", 30, 1, 2), ("u-x", 15, 2, 1)]
    # last week itself: its previous week (W42) was empty
    assert rows(board(a, "national", "week:2024-W43"), "learner_id", "points", "rank", "previous_rank") == [
        ("u-x", 20, 1, None), ("u-y", 10, 2, None)]


def test_previous_rank_is_last_months_rank_and_all_time_has_none(a):
    _two_weeks(a)
    now = ist(2024, 10, 30, 12)
    # October: Y 10 + 30 = 40, X 20 + 15 = 35, Z 5. September: Y 12 alone.
    for period in ("month", "month:2024-10"):
        body = board(a, "national", period, now)
        assert body["period"] == "month:2024-10"
        assert rows(body, "learner_id", "points", "rank", "previous_rank") == [
            ("u-y", 40, 1, 1), ("u-x", 35, 2, None), ("u-z", 5, 3, None)]
    assert rows(board(a, "national", "all", now), "learner_id", "points", "rank", "previous_rank") == [
        ("u-y", 52, 1, None), ("u-x", 35, 2, None), ("u-z", 5, 3, None)]
    # January's previous month is last year's December
    deliver(a, earn("u-x", 5, ist(2024, 12, 27), "o1", "dec") + earn("u-x", 5, ist(2025, 1, 3), "o1", "jan"))
    assert rows(board(a, "national", "month:2025-01"), "learner_id", "previous_rank") == [("u-x", 1)]
    # and week 1's previous week is the last ISO week of the year before (27 Dec is in 2024-W52; 2025-W01
    # starts on Monday 30 Dec 2024)
    assert rows(board(a, "national", "week:2025-W01"), "learner_id", "previous_rank") == [("u-x", 1)]
    assert rows(board(a, "national", "week:2024-W52"), "learner_id", "previous_rank") == [("u-x", None)]


def test_the_learner_summary_has_every_rank_with_the_previous_one(a):
    add_orgs(a, [org_event("m1", "ministry"), org_event("d1", "department", "m1"), org_event("o1", "mdo", "d1"),
                 org_event("o2", "mdo", "d1")])
    _two_weeks(a)
    ranks = learner_summary("u-x", ADMIN, a, ist(2024, 10, 30, 12))["ranks"]
    # org o1 (X and Y), dept d1, ministry m1 and national (all three)
    assert [(r["scope"], r["period"], r["points"], r["rank"], r["previous_rank"]) for r in ranks] == [
        (scope, period, points, rank, previous)
        for scope in ("org:o1", "dept:d1", "ministry:m1", "national")
        for period, points, rank, previous in (("week:2024-W44", 15, 2, 1), ("month:2024-10", 35, 2, None),
                                               ("all", 35, 2, None))]
    z = learner_summary("u-z", ADMIN, a, ist(2024, 10, 30, 12))["ranks"]
    assert [(r["scope"], r["period"], r["rank"]) for r in z if r["period"] == "all"] == [
        ("org:o2", "all", 1), ("dept:d1", "all", 3), ("ministry:m1", "all", 3), ("national", "all", 3)]
    # next week: nothing yet this week; last week's rank is shown
    later = learner_summary("u-x", ADMIN, a, ist(2024, 11, 5))["ranks"]
    week = [r for r in later if r["scope"] == "national" and r["period"].startswith("week")]
    assert week == [{"scope": "national", "period": "week:2024-W45", "points": 0, "rank": None,
                     "previous_rank": 2}]


# --- 3. around me -------------------------------------------------------------------------------------------

@pytest.fixture
def seven(a):
    """u1..u7 with 70, 60, ... 10 points in org o1; u8 only time spent (on the org board without a rank)."""
    deliver(a, [e for n in range(1, 8) for e in earn(f"u{n}", 80 - 10 * n, ist(2024, 10, 1 + n), "o1")]
            + [time_spent("u8", 45, ist(2024, 10, 9), org="o1")])
    return a


@pytest.mark.parametrize("learner, expected", [
    ("u1", ["u1", "u2", "u3"]),  # at the top: nobody above, no duplicates
    ("u2", ["u1", "u2", "u3"]),
    ("u4", ["u1", "u2", "u3", "u4", "u5"]),  # the one above is in the top three already
    ("u5", ["u1", "u2", "u3", "u4", "u5", "u6"]),  # the middle
    ("u7", ["u1", "u2", "u3", "u6", "u7"]),  # at the bottom: nobody below
    ("u8", ["u1", "u2", "u3"]),  # on the board without points: not ranked
    ("u-nobody", ["u1", "u2", "u3"]),
])
def test_around_me(seven, learner, expected):
    for scope in ("org:o1", "national"):
        body = board(seven, scope, around=learner, limit=2)  # limit does not apply
        assert [e["learner_id"] for e in body["entries"]] == expected
        assert [e["rank"] for e in body["entries"]] == [int(i[1]) for i in expected]
        assert [e["points"] for e in body["entries"]] == [80 - 10 * int(i[1]) for i in expected]
        assert body["next_cursor"] is None and body["total"] == 7


def test_around_me_on_a_small_board_with_ties(a):
    deliver(a, earn("u1", 9, ist(2024, 10, 1), "o1") + earn("u2", 9, ist(2024, 10, 2), "o1"))
    assert rows(board(a, "national", around="u2")) == [("u1", 9, 1), ("u2", 9, 1)]
    assert rows(board(a, "national", "week:2024-W40", around="u1")) == [("u1", 9, 1), ("u2", 9, 1)]
    assert board(a, "national", "week:2024-W30", around="u1")["entries"] == []


# --- 4. cursors and bad parameters ------------------------------------------------------------------------

TIED_SEVEN = {"u-a": 50, "u-b": 40, "u-c": 40, "u-d": 30, "u-e": 30, "u-f": 30, "u-g": 20}


@pytest.fixture
def tied(a):
    # reached in id order within each score (u-b before u-c...), delivered in reverse
    deliver(a, [e for n, (learner, points) in reversed(list(enumerate(TIED_SEVEN.items())))
                for e in earn(learner, points, ist(2024, 10, 1) + timedelta(hours=n), "o1")])
    return a


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 6, 7, 8])
def test_walking_the_pages_gives_every_ranked_learner_once_in_order(tied, limit):
    seen = walk(tied, "national", "all", limit)
    expected = sorted(TIED_SEVEN.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(e["learner_id"], e["points"]) for e in seen] == expected
    assert [e["rank"] for e in seen] == oracle_ranks([p for _, p in expected]) == [1, 2, 2, 3, 3, 3, 4]


def test_pages_of_two_carry_dense_ranks_across_the_boundaries(tied):
    first = board(tied, "national", limit=2)
    assert rows(first) == [("u-a", 50, 1), ("u-b", 40, 2)] and first["total"] == 7
    second = board(tied, "national", limit=2, cursor=first["next_cursor"])
    assert rows(second) == [("u-c", 40, 2), ("u-d", 30, 3)]  # the 40s straddle the boundary
    third = board(tied, "national", limit=2, cursor=second["next_cursor"])
    assert rows(third) == [("u-e", 30, 3), ("u-f", 30, 3)]
    last = board(tied, "national", limit=2, cursor=third["next_cursor"])
    assert rows(last) == [("u-g", 20, 4)] and last["next_cursor"] is None and last["total"] == 7


def test_an_exact_last_page_has_no_cursor_and_an_empty_board_is_empty(tied):
    assert board(tied, "national", limit=7)["next_cursor"] is None
    assert board(tied, "national", limit=6)["next_cursor"] is not None
    empty = board(tied, "org:o-none", "week:2024-W01")
    assert empty == {"scope": "org:o-none", "period": "week:2024-W01", "total": 0, "entries": [],
                     "next_cursor": None}


def test_a_learner_scoring_while_someone_walks_does_not_repeat_anyone(tied):
    first = board(tied, "national", limit=3)
    deliver(tied, earn("u-b", 35, ist(2024, 10, 20), "o1", "more"))  # u-b jumps to the top (75)
    second = board(tied, "national", limit=3, cursor=first["next_cursor"])
    assert [e["learner_id"] for e in second["entries"]] == ["u-d", "u-e", "u-f"]
    assert [e["rank"] for e in second["entries"]] == [4, 4, 4]  # 75, 50, 40 (u-c) above them now


def _error(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("query, field", [
    ({}, "scope"),
    ({"scope": ""}, "scope"),
    ({"scope": "galaxy"}, "scope"),
    ({"scope": "org:"}, "scope"),
    ({"scope": "org"}, "scope"),
    ({"scope": "national:x"}, "scope"),
    ({"scope": "org:bad id"}, "scope"),
    ({"scope": "national", "period": "year"}, "period"),
    ({"scope": "national", "period": "members"}, "period"),
    ({"scope": "national", "period": "week:2025-W53"}, "period"),  # 2025 has 52 ISO weeks
    ({"scope": "national", "period": "week:2024-W00"}, "period"),
    ({"scope": "national", "period": "week:2024-W54"}, "period"),
    ({"scope": "national", "period": "week:2024-43"}, "period"),
    ({"scope": "national", "period": "month:2024-13"}, "period"),
    ({"scope": "national", "period": "month:2024-1"}, "period"),
    ({"scope": "national", "period": "all "}, "period"),
    ({"scope": "national", "limit": "0"}, "limit"),
    ({"scope": "national", "limit": "101"}, "limit"),
    ({"scope": "national", "limit": "abc"}, "limit"),
    ({"scope": "national", "limit": "²"}, "limit"),
    ({"scope": "national", "limit": "-1"}, "limit"),
    ({"scope": "national", "cursor": "!!!"}, "cursor"),
    ({"scope": "national", "cursor": "abc"}, "cursor"),
    ({"scope": "national", "cursor": "bm90IGEgY3Vyc29y"}, "cursor"),  # "not a cursor"
    ({"scope": "national", "cursor": "x" * 500}, "cursor"),
])
def test_bad_learner_board_parameters_are_400_naming_the_field(seven, query, field):
    error = _error(lambda: leaderboards.learner_board(query, seven, ist(2024, 10, 30), ADMIN))
    assert (error.status, error.code, error.field) == (400, "invalid_request", field)


def test_a_53rd_week_that_exists_is_accepted(a):
    deliver(a, earn("u1", 5, ist(2020, 12, 30), "o1"))  # 2020 had 53 ISO weeks; 30 Dec is in W53
    assert rows(board(a, "national", "week:2020-W53")) == [("u1", 5, 1)]
    assert rows(board(a, "national", "week:2021-W01", around="nobody")) == []


@pytest.mark.parametrize("query, field", [
    ({}, "scope"),
    ({"scope": "org:o1"}, "scope"),  # orgs are compared within a wider scope
    ({"scope": "galaxy"}, "scope"),
    ({"scope": "national", "metric": "speed"}, "metric"),
    ({"scope": "national", "period": "week:2025-W53"}, "period"),
    ({"scope": "national", "period": "fortnight"}, "period"),
    ({"scope": "national", "limit": "0"}, "limit"),
    ({"scope": "national", "limit": "1000"}, "limit"),
])
def test_bad_org_board_parameters_are_400_naming_the_field(a, query, field):
    error = _error(lambda: leaderboards.org_board(query, a, ist(2024, 10, 30)))
    assert (error.status, error.code, error.field) == (400, "invalid_request", field)


# --- 5. scopes and moving org -------------------------------------------------------------------------------

TREE = [org_event("min_mines", "ministry"), org_event("dept_mines", "department", "min_mines"),
        org_event("org_gsi", "mdo", "dept_mines"), org_event("org_ibm", "mdo", "dept_mines"),
        org_event("org_ncl", "mdo", "min_mines"),  # straight under the ministry, no department
        org_event("state_ka", "state"), org_event("org_ka_rev", "mdo", "state_ka")]


@pytest.fixture
def tree(a):
    add_orgs(a, TREE)
    deliver(a, earn("g1", 30, ist(2024, 10, 1), "org_gsi") + earn("g2", 12, ist(2024, 10, 2), "org_gsi")
            + earn("i1", 25, ist(2024, 10, 3), "org_ibm") + earn("n1", 20, ist(2024, 10, 4), "org_ncl")
            + earn("k1", 40, ist(2024, 10, 5), "org_ka_rev") + earn("k2", 12, ist(2024, 10, 6), "org_ka_rev")
            + [time_spent("k3", 90, ist(2024, 10, 7), org="org_ka_rev")])
    return a


def test_each_scope_ranks_its_own_learners(tree):
    expected = {
        "org:org_gsi": [("g1", 30, 1), ("g2", 12, 2)],
        "org:org_ibm": [("i1", 25, 1)],
        "org:org_ka_rev": [("k1", 40, 1), ("k2", 12, 2)],
        "dept:dept_mines": [("g1", 30, 1), ("i1", 25, 2), ("g2", 12, 3)],
        "ministry:min_mines": [("g1", 30, 1), ("i1", 25, 2), ("n1", 20, 3), ("g2", 12, 4)],
        "state:state_ka": [("k1", 40, 1), ("k2", 12, 2)],
        "national": [("k1", 40, 1), ("g1", 30, 2), ("i1", 25, 3), ("n1", 20, 4), ("g2", 12, 5), ("k2", 12, 5)],
        "dept:org_gsi": [], "ministry:dept_mines": [], "state:min_mines": [],  # not what those ids are
    }
    for scope, want in expected.items():
        for period in ("all", "month:2024-10"):
            body = board(tree, scope, period)
            assert rows(body) == want, (scope, period)
            assert body["total"] == len(want)
    assert rows(board(tree, "ministry:min_mines", "week:2024-W40")) == [
        ("g1", 30, 1), ("i1", 25, 2), ("n1", 20, 3), ("g2", 12, 4)]  # 1-4 Oct: W40
    assert {(e["learner_id"], e["org_id"]) for e in board(tree, "national")["entries"]} == {
        ("k1", "org_ka_rev"), ("g1", "org_gsi"), ("i1", "org_ibm"), ("n1", "org_ncl"), ("g2", "org_gsi"),
        ("k2", "org_ka_rev")}


def _headcounts(adapters) -> dict[str, int]:
    return {s.org_id: s.learners for s in adapters.boards.org_stats(leaderboards.MEMBERS) if s.learners}


def test_a_learner_moving_org_leaves_the_old_boards_and_joins_the_new(tree):
    assert _headcounts(tree) == {"org_gsi": 2, "org_ibm": 1, "org_ncl": 1, "org_ka_rev": 3}
    # g1 transfers to the Karnataka revenue department: the next event carries the new org
    deliver(tree, [upserted("g1", ist(2024, 10, 20), name="Gita", org="org_ka_rev")])
    assert rows(board(tree, "org:org_gsi")) == [("g2", 12, 1)]
    assert rows(board(tree, "dept:dept_mines")) == [("i1", 25, 1), ("g2", 12, 2)]
    assert rows(board(tree, "ministry:min_mines")) == [("i1", 25, 1), ("n1", 20, 2), ("g2", 12, 3)]
    assert rows(board(tree, "org:org_ka_rev")) == [("k1", 40, 1), ("g1", 30, 2), ("k2", 12, 3)]
    assert rows(board(tree, "state:state_ka", "month:2024-10")) == [("k1", 40, 1), ("g1", 30, 2), ("k2", 12, 3)]
    national = board(tree, "national")
    assert rows(national)[:2] == [("k1", 40, 1), ("g1", 30, 2)] and national["total"] == 6
    assert national["entries"][1]["org_id"] == "org_ka_rev" and national["entries"][1]["name"] == "Gita"
    assert _headcounts(tree) == {"org_gsi": 1, "org_ibm": 1, "org_ncl": 1, "org_ka_rev": 4}
    assert tree.boards.scores("org:org_gsi|all") == {12: 1}
    assert tree.boards.scores("dept:dept_mines|month:2024-10") == {25: 1, 12: 1}
    ranks = learner_summary("g1", ADMIN, tree, ist(2024, 10, 30))["ranks"]
    assert {r["scope"] for r in ranks} == {"org:org_ka_rev", "state:state_ka", "national"}
    # an older event still carrying the old org does not move them back: the latest event wins
    deliver(tree, [rating("g1", "late-course", ist(2024, 10, 15), org="org_gsi")])
    assert rows(board(tree, "org:org_ka_rev"))[1] == ("g1", 32, 2)
    assert rows(board(tree, "org:org_gsi")) == [("g2", 12, 1)]


def _mdo_with_learners(org: str, count: int, prefix: str) -> list[dict]:
    return [upserted(f"{prefix}{n:04d}", ist(2024, 9, 1), org=org) for n in range(count)]


def test_org_comparisons_follow_a_learner_who_moves_to_another_ministry(a):
    """Headcounts move with the learner, and each org stays under its own ministry or state."""
    add_orgs(a, TREE)
    deliver(a, _mdo_with_learners("org_gsi", 12, "g") + _mdo_with_learners("org_ka_rev", 11, "k"))
    national = leaderboards.org_board({"scope": "national"}, a, ist(2024, 10, 30))
    assert [(o["org_id"], o["headcount"]) for o in national["categories"][0]["orgs"]] == [
        ("org_gsi", 12), ("org_ka_rev", 11)]
    deliver(a, [upserted("g0000", ist(2024, 10, 1), org="org_ka_rev")])
    assert _headcounts(a) == {"org_gsi": 11, "org_ka_rev": 12}
    ministry = leaderboards.org_board({"scope": "ministry:min_mines"}, a, ist(2024, 10, 30))
    assert [(o["org_id"], o["headcount"]) for o in ministry["categories"][0]["orgs"]] == [("org_gsi", 11)]
    state = leaderboards.org_board({"scope": "state:state_ka"}, a, ist(2024, 10, 30))
    assert [(o["org_id"], o["headcount"]) for o in state["categories"][0]["orgs"]] == [("org_ka_rev", 12)]
    dept = leaderboards.org_board({"scope": "dept:dept_mines"}, a, ist(2024, 10, 30))
    assert [o["org_id"] for o in dept["categories"][0]["orgs"]] == ["org_gsi"]
    # everyone leaves org_gsi: an org with no learners left is not a small org to hide, just none at all
    deliver(a, [upserted(f"g{n:04d}", ist(2024, 10, 2), org="org_ka_rev") for n in range(1, 12)])
    ministry = leaderboards.org_board({"scope": "ministry:min_mines"}, a, ist(2024, 10, 30))
    assert ministry["hidden_small_orgs"] == 0 and all(c["orgs"] == [] for c in ministry["categories"])
    state = leaderboards.org_board({"scope": "state:state_ka"}, a, ist(2024, 10, 30))
    assert [(o["org_id"], o["headcount"]) for o in state["categories"][0]["orgs"]] == [("org_ka_rev", 23)]
    assert state["hidden_small_orgs"] == 0


def _drain(adapters) -> list[str]:
    """Run the re-score jobs an org move started (chalicelib/rescore.py), as the audit queue's consumer would;
    the learners it re-scored."""
    adapters.queue.drain()
    return run_rescore_jobs(adapters)


def test_an_org_event_arriving_after_its_learners_puts_them_on_the_wider_boards(a):
    deliver(a, earn("g1", 30, ist(2024, 10, 1), "org_gsi"))
    a.queue.drain()
    assert rows(board(a, "ministry:min_mines")) == []  # the tree is not known yet
    add_orgs(a, TREE)
    assert _drain(a) == ["learner:g1"]  # the org's arrival re-scores the learners already in it
    assert rows(board(a, "ministry:min_mines")) == [("g1", 30, 1)]
    assert rows(board(a, "dept:dept_mines")) == [("g1", 30, 1)]


def test_an_org_moving_to_another_ministry_takes_its_learners_along(a):
    add_orgs(a, TREE)
    deliver(a, earn("g1", 30, ist(2024, 10, 1), "org_gsi") + earn("n1", 20, ist(2024, 10, 1), "org_ncl", tag="n"))
    _drain(a)
    assert rows(board(a, "ministry:min_mines")) == [("g1", 30, 1), ("n1", 20, 2)]
    # The department (with org_gsi under it) moves from the Ministry of Mines to the state of Karnataka.
    add_orgs(a, [org_event("dept_mines", "department", "state_ka", at="2024-06-01T09:00:00+05:30")])
    assert _drain(a) == ["learner:g1"]  # only the learners below the moved org
    assert rows(board(a, "ministry:min_mines")) == [("n1", 20, 1)]
    assert rows(board(a, "state:state_ka")) == [("g1", 30, 1)]
    assert rows(board(a, "dept:dept_mines")) == [("g1", 30, 1)]
    assert rows(board(a, "national")) == [("g1", 30, 1), ("n1", 20, 2)]
    # Replaying the move changes nothing and re-scores nobody.
    add_orgs(a, [org_event("dept_mines", "department", "state_ka", at="2024-06-01T09:00:00+05:30")])
    assert _drain(a) == []


def test_an_older_org_event_arriving_late_moves_nothing(a):
    add_orgs(a, TREE)
    deliver(a, earn("g1", 30, ist(2024, 10, 1), "org_gsi"))
    _drain(a)
    add_orgs(a, [org_event("dept_mines", "department", "state_ka", at="2023-06-01T09:00:00+05:30")])
    assert _drain(a) == []
    assert rows(board(a, "ministry:min_mines")) == [("g1", 30, 1)]


# --- 6. IST edges -----------------------------------------------------------------------------------------

def test_weeks_and_months_turn_at_midnight_in_india(a):
    deliver(a, [
        completion("u-sun", "c1", "2024-10-27T18:29:00Z", org="o1"),  # Sunday 27 Oct 23:59 IST: W43
        completion("u-mon", "c1", "2024-10-27T18:30:00Z", org="o1"),  # Monday 28 Oct 00:00 IST: W44
        completion("u-oct", "c1", "2024-10-31T18:29:59Z", org="o1"),  # 31 Oct 23:59:59 IST: October
        completion("u-nov", "c1", "2024-10-31T18:30:00Z", org="o1"),  # 1 Nov 00:00 IST: November
    ])
    assert [e["learner_id"] for e in board(a, "national", "week:2024-W43")["entries"]] == ["u-sun"]
    assert [e["learner_id"] for e in board(a, "national", "week:2024-W44")["entries"]] == ["u-mon", "u-oct",
                                                                                            "u-nov"]
    assert [e["learner_id"] for e in board(a, "national", "month:2024-10")["entries"]] == ["u-sun", "u-mon",
                                                                                            "u-oct"]
    assert [e["learner_id"] for e in board(a, "org:o1", "month:2024-11")["entries"]] == ["u-nov"]
    # "week" and "month" are the current ones in India: 18:30 UTC on Sunday is already Monday there
    assert board(a, "national", "week", datetime.fromisoformat("2024-10-27T18:29:59+00:00"))["period"] == \
        "week:2024-W43"
    assert board(a, "national", "week", datetime.fromisoformat("2024-10-27T18:30:00+00:00"))["period"] == \
        "week:2024-W44"
    assert board(a, "national", "month", datetime.fromisoformat("2024-10-31T18:30:00+00:00"))["period"] == \
        "month:2024-11"
    assert board(a, "national", "month", datetime.fromisoformat("2024-10-31T18:29:59+00:00"))["period"] == \
        "month:2024-10"


# --- 7. late events ---------------------------------------------------------------------------------------

def test_a_late_event_for_last_week_updates_last_week_and_this_weeks_previous_rank(a):
    _two_weeks(a)  # W43: X 20, Y 10
    now = ist(2024, 10, 30, 12)
    assert rows(board(a, "national", "week", now), "learner_id", "previous_rank") == [
        ("u-y", 2), ("u-x", 1), ("u-z", None)]
    # arriving now, happened last Friday: Y 10 + 14 = 24 in W43, ahead of X; Z appears in W43 with 2
    deliver(a, earn("u-y", 14, ist(2024, 10, 25), "o1", "late") + earn("u-z", 2, ist(2024, 10, 26), "o2", "late"))
    assert rows(board(a, "national", "week:2024-W43"), "learner_id", "points", "rank") == [
        ("u-y", 24, 1), ("u-x", 20, 2), ("u-z", 2, 3)]
    assert rows(board(a, "national", "week", now), "learner_id", "points", "rank", "previous_rank") == [
        ("u-y", 30, 1, 1), ("u-x", 15, 2, 2), ("u-z", 5, 3, 3)]
    y = {(r["scope"], r["period"]): r for r in learner_summary("u-y", ADMIN, a, now)["ranks"]}
    assert (y[("national", "week:2024-W44")]["rank"], y[("national", "week:2024-W44")]["previous_rank"]) == (1, 1)
    assert y[("national", "month:2024-10")]["points"] == 54


# --- 8. org boards ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("headcount, category", [
    (0, None), (1, None), (10, None), (11, "XS"), (50, "XS"), (51, "S"), (250, "S"), (251, "M"), (1000, "M"),
    (1001, "L"), (5000, "L"), (5001, "XL"), (2 * 10 ** 7, "XL")])
def test_size_categories_from_the_config(headcount, category):
    config = board_settings()
    found = size_category(headcount, config.size_categories) if headcount > config.max_hidden_org_learners else None
    assert (found.name if found else None) == category


# activity in October 2024 per org: (points, minutes) for each active learner; the rest only have a profile
ORG_ACTIVITY = {
    "o10": (10, [(50, 600)]),  # hidden: 10 learners
    "o11": (11, [(10, 90), (0, 30)]),  # participation 2/11
    "o22": (22, [(5, 0), (5, 0), (0, 60), (12, 45)]),  # 4/22 = 2/11: ties with o11
    "o50": (50, [(22, 120), (5, 0), (7, 7), (2, 0), (0, 1)]),  # 5/50 = 0.1
    "o51": (51, [(5, 60)]),
    "o250": (250, [(5, 30), (5, 30)]),
    "s11": (11, [(40, 600)] * 11),  # under the state: out of the ministry's comparison
    "s5": (5, [(5, 5)]),  # hidden, under the state
}
PARENT = {org: ("state_s" if org.startswith("s") else "dept_m") for org in ORG_ACTIVITY}


@pytest.fixture(scope="module")
def org_world():
    a = fresh_adapters()
    add_orgs(a, [org_event("min_m", "ministry"), org_event("dept_m", "department", "min_m"),
                 org_event("state_s", "state")] + [org_event(o, "mdo", PARENT[o]) for o in ORG_ACTIVITY])
    events = []
    for org, (headcount, active) in ORG_ACTIVITY.items():
        events += _mdo_with_learners(org, headcount, f"{org}-")
        for n, (points, minutes) in enumerate(active):
            learner, at = f"{org}-{n:04d}", ist(2024, 10, 14, 9)
            events += earn(learner, points, at, org, "oct")
            if minutes:
                events.append(time_spent(learner, minutes, at, org=org))
    # September activity counts for all time, not for October
    events += earn("o11-0005", 10, ist(2024, 9, 20), "o11", "sep") + [time_spent("o11-0006", 120, ist(2024, 9, 20),
                                                                                  org="o11")]
    deliver(a, events)
    return a, events


def _expected_org_board(scope: str, metric: str, september: bool) -> dict:
    in_scope = [o for o in ORG_ACTIVITY
                if scope == "national" or (scope == "ministry:min_m") == (PARENT[o] == "dept_m")]
    hidden = sum(1 for o in in_scope if ORG_ACTIVITY[o][0] <= 10)
    categories = {"XS": [], "S": [], "M": [], "L": [], "XL": []}
    for org in in_scope:
        headcount, active = ORG_ACTIVITY[org]
        active = list(active)
        if september and org == "o11":
            active += [(10, 0), (0, 120)]
        if headcount <= 10:
            continue
        name = "XS" if headcount <= 50 else "S" if headcount <= 250 else "M"
        participants = sum(1 for p, m in active if p or m)
        points, minutes = sum(p for p, _ in active), sum(m for _, m in active)
        value = {"participation": participants / headcount, "hours_per_learner": minutes / 60 / headcount,
                 "points_per_learner": points / headcount}[metric]
        categories[name].append({"org_id": org, "name": f"Org {org}", "headcount": headcount,
                                 "participants": participants, "points": points, "hours": round(minutes / 60, 1),
                                 "value": round(value, 4)})
    for orgs in categories.values():
        orgs.sort(key=lambda r: (-r["value"], r["org_id"]))
        values = sorted({r["value"] for r in orgs}, reverse=True)
        for r in orgs:
            r["rank"] = values.index(r["value"]) + 1
    return {"hidden_small_orgs": hidden, "categories": categories}


@pytest.mark.parametrize("metric", ["participation", "hours_per_learner", "points_per_learner"])
@pytest.mark.parametrize("scope", ["ministry:min_m", "dept:dept_m", "state:state_s", "national"])
@pytest.mark.parametrize("period", ["month:2024-10", "all"])
def test_org_boards_compare_by_size_with_each_metric(org_world, metric, scope, period):
    a, _ = org_world
    body = leaderboards.org_board({"scope": scope, "period": period, "metric": metric}, a, ist(2024, 10, 30))
    want = _expected_org_board("ministry:min_m" if scope == "dept:dept_m" else scope, metric, period == "all")
    assert (body["scope"], body["period"], body["metric"]) == (scope, period, metric)
    assert body["hidden_small_orgs"] == want["hidden_small_orgs"]
    assert [c["category"] for c in body["categories"]] == ["XS", "S", "M", "L", "XL"]
    assert [(c["min_headcount"], c["max_headcount"]) for c in body["categories"]] == [
        (11, 50), (51, 250), (251, 1000), (1001, 5000), (5001, None)]
    for category in body["categories"]:
        expected = want["categories"][category["category"]]
        assert category["orgs"] == expected, category["category"]
        assert category["orgs_ranked"] == len(expected)


def test_org_board_participation_ties_and_the_default_metric(org_world):
    a, _ = org_world
    body = leaderboards.org_board({"scope": "ministry:min_m", "period": "month:2024-10"}, a, ist(2024, 10, 30))
    assert body["metric"] == "participation" and body["hidden_small_orgs"] == 1  # o10
    xs = body["categories"][0]
    assert [(o["org_id"], o["rank"], o["value"]) for o in xs["orgs"]] == [
        ("o11", 1, round(2 / 11, 4)), ("o22", 1, round(2 / 11, 4)), ("o50", 2, 0.1)]
    # 1/51 = 0.0196 > 2/250 = 0.008
    assert [(o["org_id"], o["rank"]) for o in body["categories"][1]["orgs"]] == [("o51", 1), ("o250", 2)]
    limited = leaderboards.org_board({"scope": "ministry:min_m", "period": "month:2024-10", "limit": "1"}, a,
                                     ist(2024, 10, 30))
    assert [(o["org_id"], o["rank"]) for o in limited["categories"][0]["orgs"]] == [("o11", 1)]
    assert limited["categories"][0]["orgs_ranked"] == 3
    nothing = leaderboards.org_board({"scope": "ministry:min_m", "period": "week:2024-W01"}, a, ist(2024, 10, 30))
    assert [(o["org_id"], o["value"], o["participants"]) for o in nothing["categories"][0]["orgs"]] == [
        ("o11", 0.0, 0), ("o22", 0.0, 0), ("o50", 0.0, 0)]
    assert leaderboards.org_board({"scope": "ministry:unknown"}, a, ist(2024, 10, 30))["hidden_small_orgs"] == 0


def test_org_board_week_periods_resolve_in_india(org_world):
    a, _ = org_world
    body = leaderboards.org_board({"scope": "national", "period": "week", "metric": "points_per_learner"}, a,
                                  ist(2024, 10, 16))
    assert body["period"] == "week:2024-W42"  # 14 Oct, when everything happened, is in W42
    xs = {o["org_id"]: o for o in body["categories"][0]["orgs"]}
    assert xs["o11"]["points"] == 10 and xs["s11"]["value"] == 40.0


# --- 9. idempotency ---------------------------------------------------------------------------------------

def test_replaying_everything_changes_no_board_count_or_stat(a):
    add_orgs(a, TREE)
    _, (A, B, C, D, E), tie = _tie_events()
    events = ([e for group in tie.values() for e in group]
              + earn("g1", 30, ist(2024, 10, 1), "org_gsi") + earn("i1", 25, ist(2024, 10, 3), "org_ibm")
              + earn("k1", 40, ist(2024, 10, 5), "org_ka_rev")
              + [time_spent("k3", 90, ist(2024, 10, 7), org="org_ka_rev")]
              + [upserted("g1", ist(2024, 10, 20), org="org_ka_rev")] + _mdo_with_learners("org_ibm", 12, "ibm"))
    deliver(a, events)
    before = snapshot(a)
    boards_before = {(s, p): board(a, s, p) for s in ("national", "org:org_ka_rev", "dept:dept_mines",
                                                     "state:state_ka", "org:org_tie")
                     for p in ("all", "month:2024-10", "week:2024-W41")}
    orgs_before = leaderboards.org_board({"scope": "national", "period": "month:2024-10"}, a, ist(2024, 10, 30))
    learners = {parse_event(e).learner.id for e in events}
    for _ in range(2):
        deliver(a, events)  # every event again, each stored once
        deliver(a, list(reversed(events)))
        for learner in sorted(learners):
            recompute_stream(f"learner:{learner}", a)
        add_orgs(a, TREE)
    assert snapshot(a) == before
    assert {k: board(a, *k) for k in boards_before} == boards_before
    assert leaderboards.org_board({"scope": "national", "period": "month:2024-10"}, a, ist(2024, 10, 30)) == orgs_before
    # and the counts are the histogram of the entries
    for name in {b for b, _ in before[0]}:
        ranked = [e.points for (b, _), e in before[0].items() if b == name and e.points > 0]
        assert a.boards.scores(name) == {p: ranked.count(p) for p in set(ranked)}, name
