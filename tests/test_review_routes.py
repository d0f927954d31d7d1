"""The anti-abuse review routes through the Chalice test client with moto (DynamoDB, SQS): signed events in,
the scoring queue pumped, held events listed, released and rejected by a national admin, every body checked
against openapi.yaml. Who may call them: national admins only."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import bearer, pump, signed_headers
from tests.openapi_check import assert_matches_spec, request_validator

IST = timezone(timedelta(hours=5, minutes=30))
LEARNER, ORG = "u-burst", "org_fast"
T0 = datetime(2024, 10, 21, 10, 0, tzinfo=IST)
HELD, RELEASE, REJECT = "/v1/review/held", "/v1/review/{event_id}/release", "/v1/review/{event_id}/reject"
SUMMARY, LEDGER = "/v1/learners/{learner_id}", "/v1/learners/{learner_id}/ledger"


def completions(n: int, learner: str = LEARNER, start=T0) -> list[dict]:
    """n ACBP course completions in 30 minutes: each scored one earns 5 + 5."""
    return [{"id": f"{learner}-c{k:02d}", "type": "course.completed",
             "occurred_at": (start + timedelta(seconds=72 * k)).isoformat(),
             "learner": {"id": learner, "org_id": ORG},
             "course": {"id": f"do_{k:02d}", "name": f"Course {k}", "duration_minutes": 10},
             "acbp": {"plan_id": "acbp-1", "end_date": "2024-12-31"}} for k in range(n)]


def post_events(client, aws, events):
    body = json.dumps(events).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
    assert response.status_code == 202, response.json_body
    pump(client, aws)


def call(client, method, template, status, event_id=None, body=None, headers=None, query=""):
    url = template.replace("{event_id}", event_id or "").replace("{learner_id}", LEARNER) + query
    if method == "get":
        response = client.http.get(url, headers=headers)
    else:
        raw = json.dumps(body).encode() if body is not None else b""
        response = client.http.post(url, body=raw, headers={"Content-Type": "application/json", **(headers or {})})
    assert response.status_code == status, response.json_body
    return assert_matches_spec(template, method, status, response.json_body)


def decide(client, aws, verb, event_id, status=200, learner=LEARNER, **extra):
    body = {"learner_id": learner, **extra}
    assert request_validator(RELEASE if verb == "release" else REJECT, "post").is_valid(body)
    answer = call(client, "post", RELEASE if verb == "release" else REJECT, status, event_id, body)
    pump(client, aws)
    return answer


@pytest.fixture
def burst(client, aws):
    post_events(client, aws, completions(25))
    return client


def test_25_completions_in_30_minutes_20_scored_5_held_and_listed(burst, aws):
    summary = call(burst, "get", SUMMARY, 200)
    assert (summary["points"], summary["courses_completed"], summary["held_events"]) == (200, 20, 5)
    page = call(burst, "get", HELD, 200)
    assert [h["event_id"] for h in page["held"]] == [f"{LEARNER}-c{k:02d}" for k in (24, 23, 22, 21, 20)]
    assert page["next_cursor"] is None
    newest = page["held"][0]
    assert (newest["learner_id"], newest["org_id"], newest["type"], newest["status"], newest["occurred_at"]) == \
        (LEARNER, ORG, "course.completed", "held", "2024-10-21T04:58:48Z")
    assert (newest["why"]["rule"], newest["why"]["count"], newest["why"]["limit"], newest["why"]["window_minutes"]) \
        == ("completion_rate", 25, 20, 60)
    assert newest["held_at"] is not None and newest["decided_at"] is None
    # paging: two at a time, newest first, nothing skipped or repeated
    seen, cursor = [], None
    while True:
        page = call(burst, "get", HELD, 200, query="?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [h["event_id"] for h in page["held"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"{LEARNER}-c{k:02d}" for k in (24, 23, 22, 21, 20)]
    for query, field in (("?limit=0", "limit"), ("?limit=101", "limit"), ("?cursor=Zm9v", "cursor")):
        assert call(burst, "get", HELD, 400, query=query)["error"]["field"] == field


def test_release_2_and_reject_3_through_the_routes(burst, aws):
    ledger_before = len(call(burst, "get", LEDGER, 200, query="?limit=100")["entries"])
    released = [f"{LEARNER}-c20", f"{LEARNER}-c22"]
    for event_id in released:
        answer = decide(burst, aws, "release", event_id, note="checked with the MDO")
        assert (answer["status"], answer["decided_by"], answer["note"]) == \
            ("released", "admin-1", "checked with the MDO")
    summary = call(burst, "get", SUMMARY, 200)
    assert (summary["points"], summary["courses_completed"], summary["held_events"]) == (220, 22, 3)
    entries = call(burst, "get", LEDGER, 200, query="?limit=100")["entries"]
    new = entries[:len(entries) - ledger_before]  # newest recorded first
    assert sorted((e["event_id"], e["rule"], e["amount"], e["kind"]) for e in new) == sorted(
        (event_id, rule, 5, "award") for event_id in released for rule in ("course_completion", "acbp_bonus"))
    assert sum(e["amount"] for e in entries) == 220

    for event_id in (f"{LEARNER}-c21", f"{LEARNER}-c23", f"{LEARNER}-c24"):
        assert decide(burst, aws, "reject", event_id)["status"] == "rejected"
    summary = call(burst, "get", SUMMARY, 200)
    assert (summary["points"], summary["courses_completed"], summary["held_events"]) == (220, 22, 0)
    assert call(burst, "get", HELD, 200)["held"] == []
    assert len(call(burst, "get", LEDGER, 200, query="?limit=100")["entries"]) == ledger_before + 4

    # idempotent, final, and clear about what cannot be decided
    first = decide(burst, aws, "release", f"{LEARNER}-c20")
    assert first["status"] == "released" and call(burst, "get", SUMMARY, 200)["points"] == 220
    conflict = decide(burst, aws, "release", f"{LEARNER}-c21", status=409)["error"]
    assert (conflict["code"], conflict["field"]) == ("already_decided", "event_id")
    conflict = decide(burst, aws, "reject", f"{LEARNER}-c20", status=409)["error"]
    assert conflict["code"] == "already_decided"
    assert decide(burst, aws, "reject", f"{LEARNER}-c03", status=409)["error"]["code"] == "not_held"
    assert decide(burst, aws, "reject", "no-such-event", status=404)["error"]["code"] == "not_found"
    assert decide(burst, aws, "reject", f"{LEARNER}-c20", status=404, learner="someone-else")["error"]["code"] \
        == "not_found"


def test_bad_decision_bodies_are_400_naming_the_field(burst, aws):
    event_id = f"{LEARNER}-c24"
    for body, field in (({}, "learner_id"), ({"learner_id": 7}, "learner_id"), ({"learner_id": "a b"}, "learner_id"),
                        ({"learner_id": LEARNER, "note": "x" * 501}, "note"), ([LEARNER], "body"),
                        ({"learner_id": LEARNER, "note": "\ud800"}, "note")):
        assert call(burst, "post", REJECT, 400, event_id, body)["error"]["field"] == field, body
    response = burst.http.post(RELEASE.replace("{event_id}", event_id), body=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_json"
    assert_matches_spec(RELEASE, "post", 400, response.json_body)
    assert call(burst, "get", HELD, 200)["held"][0]["event_id"] == event_id  # nothing decided


CALLERS = {
    "the learner": (LEARNER, ["learner"], ORG),
    "their mdo_admin": ("adm-fast", ["mdo_admin", "learner"], ORG),
    "a national admin": ("nat-2", ["national_admin"], None),
}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_only_national_admins_may_list_and_decide(burst, aws, caller):
    headers = bearer(*CALLERS[caller])
    allowed = caller == "a national admin"
    body = {"learner_id": LEARNER}
    call(burst, "get", HELD, 200 if allowed else 403, headers=headers)
    call(burst, "post", RELEASE, 200 if allowed else 403, f"{LEARNER}-c24", body, headers=headers)
    call(burst, "post", REJECT, 200 if allowed else 403, f"{LEARNER}-c23", body, headers=headers)
    pump(burst, aws)
    assert call(burst, "get", SUMMARY, 200)["held_events"] == (3 if allowed else 5)


def test_no_token_is_401(burst):
    for method, template in (("get", HELD), ("post", RELEASE), ("post", REJECT)):
        url = template.replace("{event_id}", f"{LEARNER}-c24")
        response = burst.http.request(method.upper(), url, headers={"Content-Type": "application/json"},
                                      body=json.dumps({"learner_id": LEARNER}).encode(), authorization=None)
        assert response.status_code == 401 and response.json_body["error"]["field"] == "Authorization"
        assert_matches_spec(template, method, 401, response.json_body)
