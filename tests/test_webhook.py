"""POST /v1/events through the Chalice test client, with moto: signatures, limits, validation, batches,
idempotency and "nothing accepted is lost". Every response body is checked against openapi.yaml."""
import dataclasses
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

from chalicelib.ingestion.signature import HEADER, sign
from tests.conftest import FIXTURES, SECRET, fixture_event, pump, signed_headers
from tests.openapi_check import assert_matches_spec

EVENTS = "/v1/events"
LEARNER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
OLD_SECRET = "test-secret-old"  # the second of the two secrets tests/conftest.py configures


def _bytes(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def post(client, payload, headers=None):
    """POST signed with the current secret unless headers are given; the answer must match the spec."""
    body = _bytes(payload)
    response = client.http.post(EVENTS, body=body, headers=signed_headers(body) if headers is None else headers)
    assert_matches_spec(EVENTS, "post", response.status_code, response.json_body)
    return response


def statuses(response) -> list:
    return [r["status"] for r in response.json_body["results"]]


def get_learner(client, learner_id):
    response = client.http.get(f"/v1/learners/{learner_id}")
    assert_matches_spec("/v1/learners/{learner_id}", "get", response.status_code, response.json_body)
    return response


def course_completed(event_id, learner="u-1", org="org_a", course="do_1", **extra):
    return {"id": event_id, "type": "course.completed", "occurred_at": "2024-10-21T10:15:00+05:30",
            "learner": {"id": learner, "org_id": org}, "course": {"id": course, "duration_minutes": 30}, **extra}


# --- signatures ------------------------------------------------------------------------------------------

def _mac(body: bytes, secret: str, t: int) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


BODY = json.dumps(fixture_event("course.completed")).encode()

# case: (header for BODY at unix time t, or None for no header; what error.message must say)
SIGNATURE_FAILURES = {
    "missing header": (lambda t: None, "missing"),
    "empty header": (lambda t: "", "missing"),
    "malformed header": (lambda t: "not a signature", "malformed"),
    "a piece without =": (lambda t: f"t={t},v1={_mac(BODY, SECRET, t)},extra", "malformed"),
    "no t": (lambda t: f"v1={_mac(BODY, SECRET, t)}", "no valid t"),
    "t not a number": (lambda t: f"t=yesterday,v1={_mac(BODY, SECRET, t)}", "no valid t"),
    "no v1": (lambda t: f"t={t}", "no v1"),
    "only another version": (lambda t: f"t={t},v0={_mac(BODY, SECRET, t)}", "no v1"),
    "stale timestamp (301 s old)": (lambda t: sign(BODY, SECRET, t - 301), "more than 300 s"),
    "future timestamp (330 s ahead)": (lambda t: sign(BODY, SECRET, t + 330), "more than 300 s"),
    "wrong secret": (lambda t: sign(BODY, "not-the-secret", t), "does not match"),
    "body tampered after signing": (lambda t: sign(BODY.replace(b'"passed": true', b'"passed": false'), SECRET, t),
                                    "does not match"),
    "signed with another t than sent": (lambda t: f"t={t},v1={_mac(BODY, SECRET, t - 1)}", "does not match"),
    "uppercase hex": (lambda t: f"t={t},v1={_mac(BODY, SECRET, t).upper()}", "does not match"),
}


def test_a_bad_signature_is_401_naming_the_header_and_stores_nothing(client, aws, subtests):
    for case, (make_header, problem) in SIGNATURE_FAILURES.items():
        with subtests.test(case):
            header = make_header(int(time.time()))
            headers = {"Content-Type": "application/json"} | ({} if header is None else {HEADER: header})
            response = post(client, BODY, headers)
            assert response.status_code == 401
            error = response.json_body["error"]
            assert (error["code"], error["field"]) == ("invalid_signature", HEADER)
            assert problem in error["message"]
            assert aws.events.stream(f"learner:{LEARNER}") == []
    # nothing was stored: a properly signed delivery of the same body is new
    assert statuses(post(client, BODY)) == ["accepted"]


# case: header for (body, t)
GOOD_SIGNATURES = {
    "current secret": lambda b, t: sign(b, SECRET, t),
    "old secret (rotation)": lambda b, t: sign(b, OLD_SECRET, t),
    "two v1, the second right": lambda b, t: f"t={t},v1={'0' * 64},v1={_mac(b, SECRET, t)}",
    "two v1, the first right": lambda b, t: f"t={t},v1={_mac(b, OLD_SECRET, t)},v1={_mac(b, 'retired', t)}",
    "spaces and an unknown key": lambda b, t: f"t={t}, v0=ignored, v1={_mac(b, SECRET, t)}",
    "290 s old, within tolerance": lambda b, t: sign(b, SECRET, t - 290),
}


def test_a_good_signature_is_accepted(client, subtests):
    for n, (case, make_header) in enumerate(GOOD_SIGNATURES.items()):
        with subtests.test(case):
            event = fixture_event("course.completed") | {"id": f"evt_signed_{n}"}
            body = _bytes(event)
            response = post(client, body, {"Content-Type": "application/json",
                                           HEADER: make_header(body, int(time.time()))})
            assert response.status_code == 202, response.json_body
            assert response.json_body == {"results": [{"id": event["id"], "status": "accepted", "error": None}]}


def test_rotation_is_read_on_each_request(client, monkeypatch):
    monkeypatch.setenv("KARMAYOGI_WEBHOOK_SECRETS", "brand-new")
    assert post(client, BODY).status_code == 401
    assert post(client, BODY, signed_headers(BODY, "brand-new")).status_code == 202


# --- requests refused as a whole --------------------------------------------------------------------------

def _error(response, status, code, field):
    assert response.status_code == status, response.json_body
    assert (response.json_body["error"]["code"], response.json_body["error"].get("field")) == (code, field)


def test_a_body_that_is_not_json_is_400_naming_the_body(client, subtests):
    for raw in (b"{not json", b"", b"\x80\x81{}", b'{"id": "a",}', b"NaN]"):
        with subtests.test(repr(raw)):
            _error(post(client, raw), 400, "invalid_json", "body")


def test_an_empty_batch_is_400(client):
    _error(post(client, []), 400, "invalid_request", "body")


def test_a_batch_of_101_is_413_and_of_100_is_accepted(client, aws):
    events = [course_completed(f"evt_{n:03d}", course=f"do_{n}") for n in range(101)]
    _error(post(client, events), 413, "batch_too_large", "body")
    assert aws.events.stream("learner:u-1") == []
    assert statuses(post(client, events[:100])) == ["accepted"] * 100


def test_a_body_over_the_default_byte_limit_is_413_before_the_signature_is_checked(client):
    response = post(client, b" " * (1024 * 1024 + 1), {"Content-Type": "application/json"})
    _error(response, 413, "payload_too_large", "body")


def test_the_byte_limit_is_exact(client, aws):
    aws.limits = dataclasses.replace(aws.limits, max_body_bytes=2048)
    body = json.dumps(fixture_event("course.completed")).encode()
    assert len(body) < 2048
    _error(post(client, body + b" " * (2049 - len(body))), 413, "payload_too_large", "body")
    assert statuses(post(client, body + b" " * (2048 - len(body)))) == ["accepted"]


def test_a_content_type_other_than_json_is_415_from_the_framework(client, aws):
    headers = signed_headers(BODY) | {"Content-Type": "text/plain"}
    response = post(client, BODY, headers)
    assert response.status_code == 415
    assert response.json_body["Code"] == "UnsupportedMediaType"
    assert aws.events.stream(f"learner:{LEARNER}") == []


def test_json_with_a_charset_is_fine(client):
    headers = signed_headers(BODY) | {"Content-Type": "application/json; charset=utf-8"}
    assert post(client, BODY, headers).status_code == 202


def _future(**delta) -> str:
    return (datetime.now(timezone(timedelta(hours=5, minutes=30))) + timedelta(**delta)).isoformat()


def _without(event, dotted):
    *parents, leaf = dotted.split(".")
    target = event
    for p in parents:
        target = target[p]
    del target[leaf]
    return event


def _with(event, dotted, value):
    *parents, leaf = dotted.split(".")
    target = event
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target[p]
    target[leaf] = value
    return event


INVALID_EVENTS = {
    "missing learner.org_id": (lambda e: _without(e, "learner.org_id"), "learner.org_id"),
    "bad occurred_at": (lambda e: _with(e, "occurred_at", "not-a-date"), "occurred_at"),
    "occurred_at without offset": (lambda e: _with(e, "occurred_at", "2024-10-21T10:15:00"), "occurred_at"),
    "occurred_at in the future": (lambda e: _with(e, "occurred_at", _future(hours=1)), "occurred_at"),
    "unknown type": (lambda e: _with(e, "type", "course.finished"), "type"),
    "negative course.duration_minutes": (lambda e: _with(e, "course.duration_minutes", -5),
                                         "course.duration_minutes"),
    "unknown competency area": (lambda e: _with(e, "course.competencies.1.area", "technical"),
                                "course.competencies.1.area"),
    "id with a space": (lambda e: _with(e, "id", "evt 1"), "id"),
    "score over 100": (lambda e: _with(e, "assessment.score_percent", 120), "assessment.score_percent"),
    "not an object": (lambda e: "course.completed", "event"),
    "null": (lambda e: None, "event"),
}


def test_a_single_invalid_event_is_400_naming_the_field_and_is_not_stored(client, aws, subtests):
    for case, (make, field) in INVALID_EVENTS.items():
        with subtests.test(case):
            response = post(client, make(fixture_event("course.completed")))
            _error(response, 400, "invalid_event", field)
            assert response.json_body["error"]["message"].startswith(f"{field}: ")
            assert aws.events.stream(f"learner:{LEARNER}") == []


def test_an_event_just_ahead_of_our_clock_is_accepted(client):
    event = _with(fixture_event("course.completed"), "occurred_at", _future(seconds=60))
    assert statuses(post(client, event)) == ["accepted"]


# --- batches, duplicates, scoring -----------------------------------------------------------------------

def test_one_bad_event_does_not_lose_the_others_and_results_keep_request_order(client, aws):
    assert statuses(post(client, course_completed("evt_seen", learner="u-1"))) == ["accepted"]
    batch = [
        course_completed("evt_new_1", learner="u-1", course="do_2"),
        course_completed("evt_seen", learner="u-1"),
        _without(course_completed("evt_bad", learner="u-3"), "learner.org_id"),
        course_completed("evt_new_2", learner="u-2"),
        42,
        {"type": "course.completed"},
        _with(course_completed("evt_future", learner="u-4"), "occurred_at", _future(days=1)),
    ]
    response = post(client, batch)
    assert response.status_code == 202
    assert response.json_body["results"] == [
        {"id": "evt_new_1", "status": "accepted", "error": None},
        {"id": "evt_seen", "status": "duplicate", "error": None},
        {"id": "evt_bad", "status": "rejected", "error": {"field": "learner.org_id", "message": "Field required"}},
        {"id": "evt_new_2", "status": "accepted", "error": None},
        {"id": None, "status": "rejected", "error": {"field": "event", "message": "must be a JSON object"}},
        {"id": None, "status": "rejected", "error": {"field": "id", "message": "Field required"}},
        {"id": "evt_future", "status": "rejected", "error": {"field": "occurred_at", "message": "is in the future"}},
    ]
    pump(client, aws)
    assert get_learner(client, "u-1").json_body["points"] == 10  # two courses at 5
    assert get_learner(client, "u-1").json_body["courses_completed"] == 2
    assert get_learner(client, "u-2").json_body["points"] == 5
    for rejected in ("u-3", "u-4"):
        assert get_learner(client, rejected).status_code == 404
        assert aws.events.stream(f"learner:{rejected}") == []


def test_the_same_event_twice_is_a_duplicate_and_counts_once(client, aws):
    event = fixture_event("course.completed")
    assert statuses(post(client, event)) == ["accepted"]
    pump(client, aws)
    before = get_learner(client, LEARNER).json_body
    assert before["points"] == 15

    response = post(client, event)
    assert response.status_code == 202
    assert response.json_body["results"] == [{"id": event["id"], "status": "duplicate", "error": None}]
    assert pump(client, aws) == 1  # a duplicate is queued again; recomputing it changes nothing
    assert get_learner(client, LEARNER).json_body == before
    ledger = client.http.get(f"/v1/learners/{LEARNER}/ledger").json_body
    assert len(ledger["entries"]) == 3


def test_a_redelivery_with_other_content_keeps_the_first(client, aws):
    first = fixture_event("course.completed")
    assert statuses(post(client, first)) == ["accepted"]
    changed = _with(fixture_event("course.completed"), "assessment.passed", False)
    _error(post(client, changed), 409, "conflict", "id")  # the same id with another body: not a duplicate
    assert statuses(post(client, [changed]))[0] == "rejected"
    pump(client, aws)
    assert get_learner(client, LEARNER).json_body["points"] == 15


def test_duplicate_ids_within_one_batch(client, aws):
    event = fixture_event("course.completed")
    response = post(client, [event, event, fixture_event("course.rated"), event])
    assert statuses(response) == ["accepted", "duplicate", "accepted", "duplicate"]
    assert pump(client, aws) == 1  # one stream, queued once
    learner = get_learner(client, LEARNER).json_body
    assert learner["points"] == 15 + 2
    assert len(aws.events.stream(f"learner:{LEARNER}")) == 2


def test_the_fixture_batch(client, aws):
    body = (FIXTURES / "events" / "batch.json").read_bytes()  # sent byte for byte as the fixture is
    response = post(client, body)
    assert response.status_code == 202
    results = response.json_body["results"]
    assert [(r["id"], r["status"]) for r in results] == [
        ("evt_b_0001", "accepted"), ("evt_b_0002", "accepted"), ("evt_b_0003", "rejected")]
    assert results[2]["error"]["field"] == "occurred_at"
    assert pump(client, aws) == 2
    one, two = get_learner(client, "u-0001").json_body, get_learner(client, "u-0002").json_body
    assert (one["points"], one["org_id"], one["learning_minutes"], one["competency_areas"]) == \
        (5, "org_mines_hq", 30, ["behavioural"])
    assert (two["points"], two["org_id"], two["learning_minutes"], two["competency_areas"]) == \
        (5, "org_gsi_kolkata", 120, [])
    assert get_learner(client, "u-0003").status_code == 404


def test_a_single_duplicate_is_202_duplicate(client):
    event = fixture_event("course.rated")
    post(client, event)
    assert statuses(post(client, event)) == ["duplicate"]


# --- nothing accepted is lost -----------------------------------------------------------------------------

def _fails(*args, **kwargs):
    raise RuntimeError("SQS is unavailable")


def test_when_queueing_fails_the_request_fails_and_a_retry_still_gets_everything_scored(client, aws,
                                                                                        monkeypatch):
    body = (FIXTURES / "events" / "batch.json").read_bytes()
    monkeypatch.setattr(aws.queue, "send", _fails)
    response = post(client, body)
    assert response.status_code == 500  # not 2xx: the platform must retry
    assert response.json_body["Code"] == "InternalServerError"
    assert [e.id for e in aws.events.stream("learner:u-0001")] == ["evt_b_0001"]  # stored, never queued
    monkeypatch.undo()
    assert pump(client, aws) == 0

    retry = post(client, body)  # later, freshly signed, same body
    assert statuses(retry) == ["duplicate", "duplicate", "rejected"]
    assert pump(client, aws) == 2  # duplicates are queued again
    assert get_learner(client, "u-0001").json_body["points"] == 5
    assert get_learner(client, "u-0002").json_body["points"] == 5


def test_when_storing_fails_part_way_a_retry_stores_the_rest(client, aws, monkeypatch):
    events = [course_completed("evt_s1", learner="u-1"), course_completed("evt_s2", learner="u-2")]
    real_add = aws.events.add

    def add_then_fail(event, received_at, *hashed):
        if event.id == "evt_s2":
            raise RuntimeError("DynamoDB is unavailable")
        return real_add(event, received_at, *hashed)

    monkeypatch.setattr(aws.events, "add", add_then_fail)
    assert post(client, events).status_code == 500
    monkeypatch.undo()
    assert statuses(post(client, events)) == ["duplicate", "accepted"]
    pump(client, aws)
    assert [get_learner(client, u).json_body["points"] for u in ("u-1", "u-2")] == [5, 5]


def test_a_lone_surrogate_is_a_rejected_event_not_a_5xx(client, aws):
    """JSON allows "\\ud800" (found by tests/test_fuzz.py): it is no text, could never be stored, and used to
    answer 500, which the platform would have retried for ever."""
    single = json.dumps(course_completed("evt_lone_1", learner="u-\ud800")).encode()
    _error(post(client, single), 400, "invalid_event", "event")
    batch = [course_completed("evt_lone_2", extra="\udc00"), course_completed("evt_lone_3")]
    response = post(client, json.dumps(batch).encode())
    assert statuses(response) == ["rejected", "accepted"]
    assert response.json_body["results"][0]["error"]["field"] == "event"
