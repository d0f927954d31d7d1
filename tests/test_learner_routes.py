"""GET /v1/learners/{id}, its ledger and /v1/badges through the Chalice test client, with moto.
Every response body is checked against openapi.yaml."""
import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.rules.config import badge_catalogue
from tests.conftest import FIXTURES, fixture_event, pump, signed_headers
from tests.openapi_check import assert_matches_schema, assert_matches_spec

LEARNER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
SUMMARY, LEDGER = "/v1/learners/{learner_id}", "/v1/learners/{learner_id}/ledger"
ENROLLED, COMPLETED = "evt_2024-10-19_a11b-enrol-0001", "evt_2024-10-21_7f3a9c1e-cc01"
RATED, ATTENDED = "evt_2024-10-21_rate-5f1c-0422", "evt_2024-10-23_webinar-5f1c-0007"
FIXTURE_EVENTS = ["learner.upserted", "course.enrolled", "course.completed", "course.rated", "learning.time_spent",
                  "event.attended", "org.upserted"]


def send(client, aws, events):
    body = json.dumps(events).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
    assert_matches_spec("/v1/events", "post", response.status_code, response.json_body)
    assert response.status_code == 202, response.json_body
    pump(client, aws)


def get(client, template, learner_id=LEARNER, query="", status=200):
    response = client.http.get(template.format(learner_id=learner_id) + (f"?{query}" if query else ""))
    assert response.status_code == status, response.body
    return assert_matches_spec(template, "get", status, response.json_body)


@pytest.fixture
def fixtures_posted(client, aws):
    send(client, aws, [fixture_event(name) for name in FIXTURE_EVENTS])


# --- the learner ----------------------------------------------------------------------------------------

def test_an_unknown_learner_is_404_json(client, subtests):
    for template in (SUMMARY, LEDGER):
        with subtests.test(template):
            body = get(client, template, "u-nobody", status=404)
            assert body["error"]["code"] == "not_found" and "u-nobody" in body["error"]["message"]
            assert "field" not in body["error"]
    # the learner is looked up first: a bad limit for an unknown learner is still 404
    get(client, LEDGER, "u-nobody", query="limit=0", status=404)


def test_the_learner_after_the_fixture_events(client, fixtures_posted):
    body = get(client, SUMMARY)
    ranks = body.pop("ranks")
    assert body == {
        "learner_id": LEARNER,
        "name": "Ananya Mehta",
        "org_id": "org_mines_hq",
        "contact": {"email": "a•••••@example.gov.in", "phone": "••••••5678"},  # masked: see test_privacy.py
        "points": 5 + 15 + 2 + 5,  # first enrolment; completion + assessment + ACBP on time; rating; webinar
        "points_this_week": 0,  # all of it happened in October 2024
        "points_this_month": 0,
        "courses_completed": 1,
        "learning_minutes": 90 + 35 + 60,  # course duration, time spent, webinar
        "competency_areas": ["behavioural", "domain"],
        "claps": {"current": 0, "best": 1, "weekly_minutes_needed": 60},  # week of 21 Oct 2024 had 185 min
        "badges": [
            {"id": "first_course", "name": "First Step", "awarded_at": "2024-10-21T04:45:00Z",
             "event_id": COMPLETED, "why": "Completed a first course on iGOT Karmayogi."},
            {"id": "first_rating", "name": "Helpful Reviewer", "awarded_at": "2024-10-21T04:50:45Z",
             "event_id": RATED, "why": "Rated a course for the first time."},
        ],
        "last_active_at": "2024-10-23T10:30:00Z",  # the webinar, not the later-sent profile update
        "held_events": 0,  # nothing over the anti-abuse rate (test_review.py)
    }
    # this week, this month and all time, on each board: their org's, then the national one
    assert [(r["scope"], r["period"].split(":")[0]) for r in ranks] == [
        (scope, period) for scope in ("org:org_mines_hq", "national") for period in ("week", "month", "all")]
    assert [(r["points"], r["rank"]) for r in ranks if r["period"] == "all"] == [(27, 1), (27, 1)]
    assert {(r["points"], r["rank"]) for r in ranks if r["period"] != "all"} == {(0, None)}


def test_contact_details_never_appear_in_a_summary(client, fixtures_posted):
    body = get(client, SUMMARY)
    assert body["contact"] == {"email": "a•••••@example.gov.in", "phone": "••••••5678"}
    text = json.dumps(body, ensure_ascii=False)
    assert "ananya.mehta@example.gov.in" not in text and "9812345678" not in text and "mehta" not in text


def test_this_week_and_month_and_the_current_clap_streak(client, aws):
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=5)
    send(client, aws, [
        {"id": "evt_now_course", "type": "course.completed", "occurred_at": now.isoformat(),
         "learner": {"id": "u-now", "org_id": "org_a"}, "course": {"id": "do_now", "duration_minutes": 20}},
        {"id": "evt_now_time", "type": "learning.time_spent", "occurred_at": now.isoformat(),
         "learner": {"id": "u-now", "org_id": "org_a"}, "minutes": 40},
    ])
    learner = get(client, SUMMARY, "u-now")
    assert (learner["points"], learner["points_this_week"], learner["points_this_month"]) == (5, 5, 5)
    assert learner["claps"] == {"current": 1, "best": 1, "weekly_minutes_needed": 60}
    assert learner["name"] is None and learner["last_active_at"] == now.isoformat().replace("+00:00", "Z")


# --- the ledger -----------------------------------------------------------------------------------------

ALL_ENTRIES = [  # newest recorded first; all six were recorded together, in the order they occurred
    (ATTENDED, "event_attended", 5), (RATED, "course_rating", 2), (COMPLETED, "course_completion", 5),
    (COMPLETED, "assessment_passed", 5), (COMPLETED, "acbp_bonus", 5), (ENROLLED, "first_enrolment", 5)]


def _keys(entries):
    return [(e["event_id"], e["rule"], e["amount"]) for e in entries]


def test_the_ledger_newest_first_adds_up_to_the_points(client, fixtures_posted):
    page = get(client, LEDGER, query="limit=100")
    assert page["learner_id"] == LEARNER and page["next_cursor"] is None
    assert _keys(page["entries"]) == ALL_ENTRIES
    assert {e["kind"] for e in page["entries"]} == {"award"}
    assert sum(e["amount"] for e in page["entries"]) == get(client, SUMMARY)["points"]
    completion = page["entries"][2]
    assert completion["occurred_at"] == "2024-10-21T04:45:00Z"
    assert completion["note"] == "Completed course 'Cyber Security Awareness for Government Employees'"
    assert completion["recorded_at"].endswith("Z")


def test_the_default_page_is_20(client, aws):
    send(client, aws, [{"id": f"evt_webinar_{n:02d}", "type": "event.attended",
                        "occurred_at": f"2024-10-{n + 1:02d}T10:00:00+05:30",
                        "learner": {"id": "u-many", "org_id": "org_a"}, "event": {"id": f"do_webinar_{n}"}}
                       for n in range(25)])
    first = get(client, LEDGER, "u-many")
    assert len(first["entries"]) == 20 and first["next_cursor"]
    assert first["entries"][0]["event_id"] == "evt_webinar_24"
    rest = get(client, LEDGER, "u-many", query=f"cursor={first['next_cursor']}")
    assert [e["event_id"] for e in rest["entries"]] == [f"evt_webinar_{n:02d}" for n in range(4, -1, -1)]
    assert rest["next_cursor"] is None


def test_newest_means_recorded_last_not_occurred_last(client, aws):
    send(client, aws, [fixture_event("course.completed")])
    send(client, aws, [fixture_event("course.enrolled")])  # arrives later, happened two days earlier
    entries = get(client, LEDGER)["entries"]
    assert [e["rule"] for e in entries] == ["first_enrolment", "course_completion", "assessment_passed",
                                            "acbp_bonus"]
    assert entries[0]["occurred_at"] < entries[1]["occurred_at"]


def test_walking_the_pages_gives_every_entry_once(client, fixtures_posted, subtests):
    for limit in (1, 2, 4, 5, 6, 7):
        with subtests.test(limit=limit):
            seen, cursor, pages = [], None, 0
            while True:
                query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
                page = get(client, LEDGER, query=query)
                pages += 1
                assert 1 <= len(page["entries"]) <= limit
                seen += page["entries"]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert _keys(seen) == ALL_ENTRIES  # in order: no overlap, no gap
            assert pages == -(-len(ALL_ENTRIES) // limit)


def test_entries_recorded_while_walking_do_not_shift_the_pages(client, aws, fixtures_posted):
    first = get(client, LEDGER, query="limit=2")
    send(client, aws, [{"id": "evt_login", "type": "learner.first_login", "occurred_at": "2024-11-01T09:00:00+05:30",
                        "learner": {"id": LEARNER, "org_id": "org_mines_hq"}}])
    rest, cursor = [], first["next_cursor"]
    while cursor:
        page = get(client, LEDGER, query=f"limit=2&cursor={cursor}")
        rest, cursor = rest + page["entries"], page["next_cursor"]
    assert _keys(first["entries"] + rest) == ALL_ENTRIES
    assert _keys(get(client, LEDGER, query="limit=1")["entries"]) == [("evt_login", "first_login", 5)]


BAD_LIMITS = {"0": "0", "101": "101", "abc": "abc", "-1": "-1", "1.5": "1.5", "empty": "",
              "superscript two": "%C2%B2", "full-width five": "%EF%BC%95"}
BAD_CURSORS = {"not base64": "!!!", "bad padding": "a", "not utf-8": "abc",
               "too long": base64.urlsafe_b64encode(b"x" * 45).decode()}


def test_a_bad_limit_or_cursor_is_400_naming_it(client, fixtures_posted, subtests):
    for parameter, cases in (("limit", BAD_LIMITS), ("cursor", BAD_CURSORS)):
        for case, value in cases.items():
            with subtests.test(f"{parameter}: {case}"):
                body = get(client, LEDGER, query=f"{parameter}={value}", status=400)
                assert (body["error"]["code"], body["error"]["field"]) == ("invalid_request", parameter)


def test_the_limit_bounds_are_allowed(client, fixtures_posted):
    for limit in (1, 100):
        assert len(get(client, LEDGER, query=f"limit={limit}")["entries"]) == min(limit, len(ALL_ENTRIES))


# --- leaderboards: only that their bodies are what openapi.yaml says ---------------------------------

def test_leaderboard_bodies_match_the_spec(client, aws, fixtures_posted):
    send(client, aws, json.loads((FIXTURES / "events" / "batch.json").read_text()))
    learners = "/v1/leaderboards/learners"
    for query in ("scope=national", "scope=national&period=all&limit=1", f"scope=national&around={LEARNER}",
                  "scope=org:org_mines_hq&period=month:2024-10"):
        response = client.http.get(f"{learners}?{query}")
        assert response.status_code == 200, response.body
        assert_matches_spec(learners, "get", 200, response.json_body)
    board = client.http.get(f"{learners}?scope=national").json_body
    assert [(e["learner_id"], e["points"], e["rank"]) for e in board["entries"]] == [
        (LEARNER, 27, 1), ("u-0001", 5, 2), ("u-0002", 5, 2)]
    for query, field in (("", "scope"), ("scope=galaxy", "scope"), ("scope=national&period=year", "period"),
                         ("scope=national&limit=0", "limit"), ("scope=national&cursor=abc", "cursor")):
        response = client.http.get(f"{learners}?{query}")
        assert response.status_code == 400, (query, response.body)
        assert assert_matches_spec(learners, "get", 400, response.json_body)["error"]["field"] == field
    orgs = "/v1/leaderboards/orgs"
    for query in ("scope=national", "scope=national&metric=hours_per_learner&period=week"):
        response = client.http.get(f"{orgs}?{query}")
        assert response.status_code == 200, response.body
        assert_matches_spec(orgs, "get", 200, response.json_body)
    response = client.http.get(f"{orgs}?scope=national&metric=fun")
    assert assert_matches_spec(orgs, "get", response.status_code, response.json_body)["error"]["field"] == "metric"


# --- the catalogue, health and what the framework answers --------------------------------------------

def test_the_badge_catalogue(client):
    body = get(client, "/v1/badges")
    assert body == {"badges": [b.as_dict() for b in badge_catalogue()]}
    ids = [b["id"] for b in body["badges"]]
    assert len(ids) == len(set(ids)) and {"first_course", "adarsh_karmayogi", "first_rating"} <= set(ids)
    adarsh = next(b for b in body["badges"] if b["id"] == "adarsh_karmayogi")
    assert (adarsh["metric"], adarsh["threshold"]) == ("courses_completed", 100)


def test_health(client):
    assert get(client, "/health") == {"status": "ok"}


def test_a_get_with_a_non_json_content_type_is_415_from_the_framework(client, subtests):
    for path, template in (("/health", "/health"), ("/v1/badges", "/v1/badges"),
                           (f"/v1/learners/{LEARNER}", SUMMARY), (f"/v1/learners/{LEARNER}/ledger", LEDGER)):
        with subtests.test(path):
            response = client.http.get(path, headers={"Content-Type": "text/plain"})
            assert response.status_code == 415
            assert assert_matches_spec(template, "get", 415, response.json_body)["Code"] == "UnsupportedMediaType"


def test_unknown_paths_and_methods_get_the_bodies_the_spec_describes(client):
    unknown = client.http.get("/v1/nothing-here")
    assert unknown.status_code == 403
    assert_matches_schema("GatewayMessage", unknown.json_body)
    wrong_method = client.http.delete("/v1/badges")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "GET"
    assert assert_matches_schema("FrameworkError", wrong_method.json_body)["Code"] == "MethodNotAllowedError"
