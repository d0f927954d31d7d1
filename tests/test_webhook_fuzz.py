"""Issue 15: a Hypothesis fuzz of POST /v1/events' body itself, signed, through chalice.test.Client on the
in-memory adapters: arbitrary JSON documents (`recursive`), and valid events mutated (a field set to any JSON
value or removed, boundary dates, deep nesting, booleans for numbers), alone or in batches. No answer is a
5xx, and every event answered accepted or duplicate is queued for scoring (the in-memory queue).

Bounded for CI like tests/test_fuzz.py: KARMAYOGI_FUZZ_EXAMPLES examples per test (default 25)."""
from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, event, given, settings as hypothesis_settings, strategies as st

from chalicelib import bootstrap
from tests.conftest import FIXTURES, app_client, signed_headers

EXAMPLES = int(os.environ.get("KARMAYOGI_FUZZ_EXAMPLES", "25"))
VALID = [json.loads(p.read_text()) for p in sorted((FIXTURES / "events").glob("*.json")) if p.stem != "batch"]
DATES = ["0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:00", "2019-12-31T23:59:59Z", "2020-01-01T00:00:00Z",
         "2999-01-01T00:00:00Z", "2024-10-21T10:15:00", "2024-13-01T00:00:00Z", "", "now"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30)


def _paths(value, prefix=()):
    """Every path to a value inside a JSON document (the root excluded)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield prefix + (key,)
        yield from _paths(child, prefix + (key,))


def _set(document, path, value):
    node = document
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


_DELETE = object()


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"x": value}
    return value


@st.composite
def mutated_events(draw):
    event = copy.deepcopy(draw(st.sampled_from(VALID)))
    # Mostly fresh ids; a few reused ones make duplicates and conflicts (the store lives for the whole run).
    event["id"] = draw(st.one_of(st.uuids().map(str), st.sampled_from(["f-1", "f-2", "f-3"])))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):  # some stay valid: accepted ones are checked
        paths = list(_paths(event))
        path = draw(st.sampled_from(paths))
        value = draw(st.one_of(json_values, st.just(_DELETE), st.sampled_from(DATES), st.booleans(),
                               st.integers(min_value=25, max_value=300).map(_nested)))
        _set(event, path, value)
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        event["occurred_at"] = draw(st.sampled_from(DATES))
    return event


bodies = st.one_of(json_values, mutated_events(), st.lists(st.one_of(mutated_events(), json_values), min_size=1,
                                                           max_size=6))


def _stream(raw):
    try:
        return f"org:{raw['org']['id']}" if raw["type"] == "org.upserted" else f"learner:{raw['learner']['id']}"
    except (KeyError, TypeError):
        return None


@pytest.fixture(scope="module")
def webhook():
    adapters = bootstrap.memory_adapters()
    bootstrap.use(adapters)
    try:
        with app_client() as client:
            yield client, adapters
    finally:
        bootstrap.use(None)


@hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(payload=bodies)
def test_no_body_gets_a_5xx_and_every_accepted_event_is_queued(webhook, payload):
    client, adapters = webhook
    adapters.queue.drain()
    body = json.dumps(payload).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body), authorization=None)
    assert response.status_code < 500, (response.status_code, body[:500], response.body[:500])
    queued = set(adapters.queue.drain())
    if response.status_code != 202:
        assert queued == set()  # a request refused as a whole stores and queues nothing
        return
    sent = payload if isinstance(payload, list) else [payload]
    results = response.json_body["results"]
    assert len(results) == len(sent)
    for raw, result in zip(sent, results):
        event(f"an event {result['status']}")
        if result["status"] in ("accepted", "duplicate"):
            assert _stream(raw) in queued, (raw, result)
        else:
            assert result["status"] == "rejected" and result["error"]["field"]
