"""The leaderboard routes and the learner's `ranks`, end to end through the Chalice test client with moto:
signed events posted to the webhook, the scoring queue pumped, then the boards read back. Every body is
checked against openapi.yaml."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import pump, signed_headers
from tests.openapi_check import assert_matches_spec
from tests.rules_builders import attended, ist, rating, time_spent, upserted
from tests.test_leaderboards import earn, org_event, oracle_ranks

LEARNERS, ORGS, SUMMARY = "/v1/leaderboards/learners", "/v1/leaderboards/orgs", "/v1/learners/{learner_id}"
IST = timezone(timedelta(hours=5, minutes=30))


def send(client, aws, events):
    for start in range(0, len(events), 100):
        body = json.dumps(events[start:start + 100]).encode()
        response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
        assert response.status_code == 202, response.json_body
        assert {r["status"] for r in assert_matches_spec("/v1/events", "post", 202, response.json_body)["results"]} \
            <= {"accepted", "duplicate"}
    pump(client, aws)


def get(client, path, query="", status=200, template=None):
    response = client.http.get(path + (f"?{query}" if query else ""))
    assert response.status_code == status, (query, response.body)
    return assert_matches_spec(template or path, "get", status, response.json_body)


def rows(body, *fields):
    fields = fields or ("learner_id", "points", "rank")
    return [tuple(e[f] for f in fields) for e in body["entries"]]


TREE = [org_event("min_mines", "ministry", name="Ministry of Mines"),
        org_event("dept_mines", "department", "min_mines", name="Department of Mines"),
        org_event("org_gsi", "mdo", "dept_mines", name="Geological Survey of India"),
        org_event("org_ibm", "mdo", "dept_mines", name="Indian Bureau of Mines"),
        org_event("state_ka", "state", name="Karnataka"),
        org_event("org_ka_rev", "mdo", "state_ka", name="Revenue Department, Karnataka")]


@pytest.fixture
def october(client, aws):
    """October 2024 in a small org tree. Orgs are sent first (a learner's scopes are read when scored)."""
    send(client, aws, TREE)
    send(client, aws, [upserted("g1", ist(2024, 9, 1), name="Gita Sen", org="org_gsi")]
         + [upserted(f"gsi-{n:02d}", ist(2024, 9, 1), org="org_gsi") for n in range(11)]  # headcount 13
         + earn("g1", 30, ist(2024, 10, 1), "org_gsi") + earn("g2", 12, ist(2024, 10, 2), "org_gsi")
         + [time_spent("g2", 90, ist(2024, 10, 2), org="org_gsi")]
         + earn("i1", 25, ist(2024, 10, 3), "org_ibm")
         + earn("k1", 40, ist(2024, 10, 5), "org_ka_rev") + earn("k2", 12, ist(2024, 10, 6), "org_ka_rev")
         + [time_spent("k3", 200, ist(2024, 10, 7), org="org_ka_rev")])


def test_learner_boards_for_each_scope(client, october):
    national = get(client, LEARNERS, "scope=national")
    assert (national["scope"], national["period"], national["total"], national["next_cursor"]) == (
        "national", "all", 5, None)
    assert rows(national, "learner_id", "name", "org_id", "points", "rank", "previous_rank") == [
        ("k1", None, "org_ka_rev", 40, 1, None), ("g1", "Gita Sen", "org_gsi", 30, 2, None),
        ("i1", None, "org_ibm", 25, 3, None), ("g2", None, "org_gsi", 12, 4, None),
        ("k2", None, "org_ka_rev", 12, 4, None)]
    expected = {
        ("ministry:min_mines", "month:2024-10"): [("g1", 30, 1), ("i1", 25, 2), ("g2", 12, 3)],
        ("dept:dept_mines", "week:2024-W40"): [("g1", 30, 1), ("i1", 25, 2), ("g2", 12, 3)],
        ("dept:dept_mines", "week:2024-W41"): [],
        ("state:state_ka", "all"): [("k1", 40, 1), ("k2", 12, 2)],
        ("org:org_ka_rev", "all"): [("k1", 40, 1), ("k2", 12, 2)],  # k3 only spent time: not ranked
        ("org:org_gsi", "month:2024-10"): [("g1", 30, 1), ("g2", 12, 2)],
    }
    for (scope, period), want in expected.items():
        body = get(client, LEARNERS, f"scope={scope}&period={period}")
        assert (body["scope"], body["period"], body["total"]) == (scope, period, len(want))
        assert rows(body) == want, (scope, period)


def test_around_and_cursors_through_the_route(client, october):
    around = get(client, LEARNERS, "scope=national&around=i1")
    assert rows(around) == [("k1", 40, 1), ("g1", 30, 2), ("i1", 25, 3), ("g2", 12, 4)]
    assert around["next_cursor"] is None
    assert rows(get(client, LEARNERS, "scope=national&around=k2")) == [
        ("k1", 40, 1), ("g1", 30, 2), ("i1", 25, 3), ("g2", 12, 4), ("k2", 12, 4)]
    for nobody in ("k3", "nobody", "x" * 2000, "a%20b"):  # not ranked, unknown, or no id at all: the top three
        assert rows(get(client, LEARNERS, f"scope=national&around={nobody}")) == [
            ("k1", 40, 1), ("g1", 30, 2), ("i1", 25, 3)]
    seen, cursor = [], None
    while True:
        page = get(client, LEARNERS, "scope=national&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert 1 <= len(page["entries"]) <= 2 and page["total"] == 5
        seen += rows(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [("k1", 40, 1), ("g1", 30, 2), ("i1", 25, 3), ("g2", 12, 4), ("k2", 12, 4)]


def test_org_boards_through_the_route(client, october):
    body = get(client, ORGS, "scope=ministry:min_mines&period=month:2024-10")
    assert (body["scope"], body["period"], body["metric"], body["hidden_small_orgs"]) == (
        "ministry:min_mines", "month:2024-10", "participation", 1)  # org_ibm: 1 learner
    xs = body["categories"][0]
    assert (xs["category"], xs["min_headcount"], xs["max_headcount"], xs["orgs_ranked"]) == ("XS", 11, 50, 1)
    assert xs["orgs"] == [{"org_id": "org_gsi", "name": "Geological Survey of India", "rank": 1,
                           "value": round(2 / 13, 4), "headcount": 13, "participants": 2, "points": 42,
                           "hours": 1.5}]
    assert all(c["orgs"] == [] and c["orgs_ranked"] == 0 for c in body["categories"][1:])
    hours = get(client, ORGS, "scope=dept:dept_mines&period=month:2024-10&metric=hours_per_learner")
    assert hours["categories"][0]["orgs"][0]["value"] == round(1.5 / 13, 4)
    points = get(client, ORGS, "scope=national&metric=points_per_learner")
    assert points["hidden_small_orgs"] == 2  # org_ibm (1) and org_ka_rev (k1, k2, k3)
    assert [(o["org_id"], o["value"]) for o in points["categories"][0]["orgs"]] == [("org_gsi", round(42 / 13, 4))]
    state = get(client, ORGS, "scope=state:state_ka&period=week")
    assert state["hidden_small_orgs"] == 1 and all(c["orgs"] == [] for c in state["categories"])


def test_the_learner_summary_ranks_on_historical_data(client, october):
    ranks = get(client, SUMMARY.format(learner_id="g1"), template=SUMMARY)["ranks"]
    assert [(r["scope"], r["period"].split(":")[0]) for r in ranks] == [
        (scope, period) for scope in ("org:org_gsi", "dept:dept_mines", "ministry:min_mines", "national")
        for period in ("week", "month", "all")]
    assert [(r["scope"], r["points"], r["rank"], r["previous_rank"]) for r in ranks if r["period"] == "all"] == [
        ("org:org_gsi", 30, 1, None), ("dept:dept_mines", 30, 1, None), ("ministry:min_mines", 30, 1, None),
        ("national", 30, 2, None)]
    assert {(r["points"], r["rank"], r["previous_rank"]) for r in ranks if r["period"] != "all"} == {(0, None, None)}


def _week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(IST).isocalendar()
    return f"week:{year}-W{week:02d}"


def _month(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("month:%Y-%m")


def test_this_week_and_month_with_the_previous_ranks(client, aws):
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=5)
    last_week = now - timedelta(days=7)
    tag = now.strftime("%Y%m%d%H%M%S")
    # last week: p 10, q 5. This week: q 12, p 5.
    send(client, aws, earn("p", 10, last_week, "org_r", f"lw{tag}") + earn("q", 5, last_week, "org_r", f"lw{tag}")
         + [rating("q", f"tw{tag}", now, org="org_r"), attended("q", f"tw{tag}-1", now, minutes=0, org="org_r"),
            attended("q", f"tw{tag}-2", now, minutes=0, org="org_r"),
            attended("p", f"tw{tag}-1", now, minutes=0, org="org_r")])
    this_week, this_month = _week(now), _month(now)
    week = get(client, LEARNERS, "scope=national&period=week")
    assert week["period"] == this_week
    assert rows(week, "learner_id", "points", "rank", "previous_rank") == [("q", 12, 1, 2), ("p", 5, 2, 1)]
    assert rows(get(client, LEARNERS, f"scope=org:org_r&period={_week(last_week)}"),
                "learner_id", "points", "rank", "previous_rank") == [("p", 10, 1, None), ("q", 5, 2, None)]
    same_month = _month(last_week) == this_month
    # this month: both weeks if last week's events fell in it too; else only this week's, last month's before
    month_rows = ([("q", 17, 1, None), ("p", 15, 2, None)] if same_month
                  else [("q", 12, 1, 2), ("p", 5, 2, 1)])
    month = get(client, LEARNERS, "scope=org:org_r&period=month")
    assert month["period"] == this_month
    assert rows(month, "learner_id", "points", "rank", "previous_rank") == month_rows
    p_ranks = get(client, SUMMARY.format(learner_id="p"), template=SUMMARY)["ranks"]
    month_p = month_rows[1]
    assert [(r["scope"], r["period"], r["points"], r["rank"], r["previous_rank"]) for r in p_ranks] == [
        (scope, period, points, rank, previous) for scope in ("org:org_r", "national")
        for period, points, rank, previous in ((this_week, 5, 2, 1), (this_month, month_p[1], 2, month_p[3]),
                                               ("all", 15, 2, None))]


BAD_LEARNER_QUERIES = [
    ("", "scope"), ("scope=galaxy", "scope"), ("scope=org:", "scope"), ("scope=national:x", "scope"),
    ("scope=national&period=year", "period"), ("scope=national&period=week:2025-W53", "period"),
    ("scope=national&period=month:2024-13", "period"), ("scope=national&period=members", "period"),
    ("scope=national&limit=0", "limit"), ("scope=national&limit=101", "limit"), ("scope=national&limit=x", "limit"),
    ("scope=national&cursor=abc", "cursor"), ("scope=national&cursor=!!!", "cursor"),
    ("scope=national&cursor=" + base64.urlsafe_b64encode(b"no pipes here").decode().rstrip("="), "cursor"),
]
BAD_ORG_QUERIES = [
    ("", "scope"), ("scope=org:org_gsi", "scope"), ("scope=planet:earth", "scope"),
    ("scope=national&metric=fun", "metric"), ("scope=national&period=week:2025-W53", "period"),
    ("scope=national&period=month:2024-00", "period"), ("scope=national&limit=0", "limit"),
]


def test_bad_parameters_are_400_naming_the_field(client, subtests):
    for path, cases in ((LEARNERS, BAD_LEARNER_QUERIES), (ORGS, BAD_ORG_QUERIES)):
        for query, field in cases:
            with subtests.test(path=path, query=query):
                body = get(client, path, query, status=400)
                assert (body["error"]["code"], body["error"]["field"]) == ("invalid_request", field)


def test_the_boards_answer_a_non_json_content_type_with_415(client):
    for path in (LEARNERS, ORGS):
        response = client.http.get(f"{path}?scope=national", headers={"Content-Type": "text/plain"})
        assert response.status_code == 415
        assert_matches_spec(path, "get", 415, response.json_body)


def test_pages_of_a_bigger_board_follow_the_oracle(client, aws):
    points = [31, 7, 19, 19, 5, 31, 12, 7, 2]
    send(client, aws, [e for n, p in enumerate(points)
                       for e in earn(f"u{n}", p, ist(2024, 10, 1) + timedelta(hours=n), "org_r", "big")])
    expected = sorted(((f"u{n}", p) for n, p in enumerate(points)), key=lambda kv: (-kv[1], int(kv[0][1:])))
    want = [(learner, p, r) for (learner, p), r in zip(expected, oracle_ranks([p for _, p in expected]))]
    for limit in (1, 4):
        seen, cursor = [], None
        while True:
            page = get(client, LEARNERS, f"scope=org:org_r&period=month:2024-10&limit={limit}"
                       + (f"&cursor={cursor}" if cursor else ""))
            seen += rows(page)
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == want
