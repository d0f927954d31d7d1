"""Issue 15: input to POST /v1/events that used to answer 5xx or half-store a batch, booleans taken for numbers,
and a re-sent event id with different content. Per-event results name the field; the rest of a batch is stored
and queued; nothing sent to this route answers 5xx."""
import json
from datetime import datetime, timezone

import pytest

from chalicelib import bootstrap
from chalicelib.errors import ApiError
from chalicelib.ingestion import webhook
from chalicelib.ingestion.signature import sign
from tests.conftest import SECRET, signed_headers
from tests.openapi_check import assert_matches_spec

NOW = datetime.now(timezone.utc)


def event(event_id, learner="u-1", **changes):
    body = {"id": event_id, "type": "course.completed", "occurred_at": "2024-10-21T10:15:00+05:30",
            "learner": {"id": learner, "org_id": "org_a"}, "course": {"id": "do_1", "duration_minutes": 30}}
    body.update(changes)
    return body


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def handle(payload, adapters):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    # signed at NOW, the moment handle() is told it is: NOW is fixed at import, and a long run reaches this file
    # more than the 300 s tolerance later
    return webhook.handle(body, sign(body, SECRET, int(NOW.timestamp())), adapters, NOW)


@pytest.fixture
def mem():
    return bootstrap.memory_adapters()


def results(answer):
    return answer[1]["results"]


# --- nothing answers 5xx; each bad event is a rejected result naming its field --------------------------------

def test_json_nested_a_thousand_deep_is_a_400_not_a_500(mem):
    with pytest.raises(ApiError) as caught:
        handle(b"[" * 1000 + b"]" * 1000, mem)
    assert caught.value.status == 400 and caught.value.field == "body"


def test_an_extra_field_256_deep_is_rejected_naming_the_field(mem):
    answer = handle([event("e-deep", extra=nested(256))], mem)
    assert results(answer)[0]["status"] == "rejected"
    assert results(answer)[0]["error"]["field"].startswith("extra")
    assert "deep" in results(answer)[0]["error"]["message"]


def test_an_event_nested_just_within_the_limit_is_accepted(mem):
    depth = mem.limits.max_event_depth - 2  # the event object and the extra field's own object count
    assert results(handle([event("e-ok", extra=nested(depth))], mem))[0]["status"] == "accepted"


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+05:30", "0001-01-01T00:00:00Z",
                                         "9999-12-31T23:59:59-05:00", "2019-12-31T23:59:59Z",
                                         "2020-01-01T05:29:59+05:30"])
def test_occurred_at_out_of_range_is_rejected_naming_the_field(mem, occurred_at):
    answer = handle([event("e-old", occurred_at=occurred_at)], mem)
    assert results(answer)[0]["status"] == "rejected"
    assert results(answer)[0]["error"]["field"] == "occurred_at"


def test_occurred_at_from_2020_is_accepted(mem):
    assert results(handle([event("e-2020", occurred_at="2020-01-01T05:30:00+05:30")], mem))[0]["status"] == "accepted"


def test_the_earliest_occurred_at_is_a_configurable_limit(mem):
    import dataclasses
    strict = dataclasses.replace(mem, limits=dataclasses.replace(mem.limits,
                                                                 earliest_occurred_at="2024-11-01T00:00:00+00:00"))
    assert results(handle([event("e-early")], strict))[0]["error"]["field"] == "occurred_at"


@pytest.mark.parametrize("field,value", [("minutes", True), ("minutes", False)])
def test_a_boolean_is_not_a_number(mem, field, value):
    body = event("e-bool", type="learning.time_spent", **{field: value})
    del body["course"]
    answer = handle([body], mem)
    assert results(answer)[0]["status"] == "rejected" and results(answer)[0]["error"]["field"] == field


def test_a_boolean_duration_or_rating_is_rejected(mem):
    course = event("e-b1", course={"id": "do_1", "duration_minutes": True})
    rated = event("e-b2", type="course.rated", course={"id": "do_1"}, rating=True)
    answer = results(handle([course, rated], mem))
    assert [r["status"] for r in answer] == ["rejected", "rejected"]
    assert [r["error"]["field"] for r in answer] == ["course.duration_minutes", "rating"]


def test_good_poison_good_stores_and_queues_both_good_events(mem):
    answer = handle([event("g-1", learner="u-a"), event("p-1", learner="u-p", extra=nested(256)),
                     event("g-2", learner="u-b")], mem)
    assert [r["status"] for r in results(answer)] == ["accepted", "rejected", "accepted"]
    assert sorted(mem.queue.drain()) == ["learner:u-a", "learner:u-b"]
    assert mem.events.stream("learner:u-p") == []


def test_what_was_stored_is_queued_even_when_a_later_store_fails(mem):
    """A storage failure (a real outage) may answer 5xx so the platform retries, but what was stored before it
    is queued: the retry's duplicate would be queued again anyway, and nothing stored waits for it."""
    real_add, calls = mem.events.add, []

    def failing_second(e, at, *args, **kwargs):
        calls.append(e.id)
        if len(calls) == 2:
            raise RuntimeError("DynamoDB is down")
        return real_add(e, at, *args, **kwargs)
    mem.events.add = failing_second
    with pytest.raises(RuntimeError):
        handle([event("g-1", learner="u-a"), event("g-2", learner="u-b")], mem)
    assert mem.queue.drain() == ["learner:u-a"]


# --- a re-sent id: same body is a duplicate, another body a conflict ---------------------------------------------

def test_same_id_same_body_is_a_duplicate(mem):
    handle([event("e-1")], mem)
    assert results(handle([event("e-1")], mem))[0]["status"] == "duplicate"


def test_same_id_other_body_is_rejected_as_a_conflict_and_nothing_is_overwritten(mem):
    handle([event("e-1")], mem)
    answer = results(handle([event("e-1", course={"id": "do_1", "duration_minutes": 600})], mem))[0]
    assert answer["status"] == "rejected" and answer["error"]["code"] == "conflict"
    assert answer["error"]["field"] == "id"
    assert mem.events.stream("learner:u-1")[0].course.duration_minutes == 30


def test_a_conflict_on_a_single_event_is_a_409(mem):
    handle(event("e-1"), mem)
    with pytest.raises(ApiError) as caught:
        handle(event("e-1", occurred_at="2024-10-22T10:15:00+05:30"), mem)
    assert caught.value.status == 409 and caught.value.code == "conflict"


def test_the_same_event_written_in_another_key_order_or_offset_is_still_a_duplicate(mem):
    handle([event("e-1")], mem)
    same = dict(reversed(list(event("e-1", occurred_at="2024-10-21T04:45:00Z").items())))
    assert results(handle([same], mem))[0]["status"] == "duplicate"


# --- through the route, on moto ------------------------------------------------------------------------------------

def test_through_the_route_every_such_body_answers_without_a_5xx(client, aws):
    bodies = [b"[" * 1000 + b"]" * 1000, b"{" * 5000,
              json.dumps(event("r-1", extra=nested(256))).encode(),
              json.dumps(event("r-2", occurred_at="0001-01-01T00:00:00+05:30")).encode(),
              json.dumps([event("r-3"), event("r-4", extra=nested(300)), event("r-5")]).encode()]
    for body in bodies:
        response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
        assert response.status_code < 500, (body[:80], response.body)
        assert_matches_spec("/v1/events", "post", response.status_code, response.json_body)
    body = json.dumps(event("r-1", course={"id": "do_9"})).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
    assert response.status_code in (202, 409)  # r-1 was rejected, never stored: now it is new
    conflict = json.dumps([event("r-3", course={"id": "do_9"})]).encode()
    response = client.http.post("/v1/events", body=conflict, headers=signed_headers(conflict))
    assert response.status_code == 202
    assert response.json_body["results"][0]["error"]["code"] == "conflict"
    assert_matches_spec("/v1/events", "post", response.status_code, response.json_body)


def test_a_boolean_score_percent_is_rejected(mem):
    body = event("e-b3", assessment={"passed": True, "score_percent": True})
    assert results(handle([body], mem))[0]["error"]["field"] == "assessment.score_percent"
