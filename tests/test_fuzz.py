"""A fuzz pass over every operation in openapi.yaml: schemathesis generates requests from the spec, both valid
ones (positive) and ones that break it (negative), and they go in-process through Chalice's test client, on
moto, with a valid bearer token (national_admin) or a valid webhook signature over the generated body. No
request may get a 5xx, and every answer must be a status the spec documents for the operation, with a body
that matches it (tests/openapi_check.py, strict about undocumented fields).

Bounded for CI (2 cores): KARMAYOGI_FUZZ_EXAMPLES examples per operation and mode (default 25); the whole
file takes well under a minute. A failure prints the request and Hypothesis' seed to reproduce it.

Schemathesis cannot call Chalice's test client itself (it speaks HTTP, WSGI or ASGI), so `send` adapts a
generated case: schemathesis serialises it for `requests` (query string, JSON body), and we hand the method,
path, headers and body to `client.http.request`, decoding the path's percent escapes as API Gateway does.
"""
from __future__ import annotations

import base64
import json
import os
import time
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from schemathesis import GenerationMode

from chalicelib.ingestion.signature import HEADER, sign
from tests.conftest import FIXTURES, SECRET, app_client, aws_world, bearer, pump, signed_headers
from tests.openapi_check import SPEC_PATH, assert_matches_spec, documented_media_types, spec

EXAMPLES = int(os.environ.get("KARMAYOGI_FUZZ_EXAMPLES", "25"))
BASE_URL = "http://fuzz.invalid"
KNOWN_LEARNER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b"
XAPI_CLIENT = "fuzz-lms:fuzz-secret"  # client:secret, configured as KARMAYOGI_XAPI_CLIENTS for the pass  # the learner of the fixture events (local/fixtures/events)

SCHEMA = schemathesis.openapi.from_path(str(SPEC_PATH))
OPERATIONS = sorted((result.ok() for result in SCHEMA.get_all_operations()), key=lambda op: (op.path, op.method))


def _definition(operation) -> tuple[dict, dict]:
    path_item = spec()["paths"][operation.path]
    return path_item, path_item[operation.method.lower()]


def _security(operation) -> set[str]:
    _, definition = _definition(operation)
    requirements = definition.get("security", spec().get("security", []))
    return {name for requirement in requirements for name in requirement}


def _has_inputs(operation) -> bool:
    """Whether there is anything to break in a negative case (beyond the auth headers we always set)."""
    path_item, definition = _definition(operation)
    parameters = [p for p in path_item.get("parameters", []) + definition.get("parameters", [])
                  if p.get("name") != HEADER]
    return bool(parameters or definition.get("requestBody"))


CASES = [pytest.param(op, mode, id=f"{op.method.upper()} {op.path} {mode.value}")
         for op in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or _has_inputs(op)]


# --- the adapter: a generated case -> chalice.test.Client ---------------------------------------------------

# API Gateway decodes a path parameter's %-escapes before the function sees it; Chalice's local gateway does not,
# and would split on a decoded "/" or cut at "?", "#" or ";". So the path is decoded except for those (and controls).
_KEEP_ESCAPED = set("/?#%;")  # ";" too: the test client (urlparse) would cut path parameters there


def gateway_path(raw_path: str) -> str:
    return "/".join("".join(quote(c, safe="") if c in _KEEP_ESCAPED or not c.isprintable() else c
                            for c in unquote(segment)) for segment in raw_path.split("/"))


def send(client, case, token: str, change_body=None, change_bytes=None):
    """Send the case; `change_body(json value)` may alter a JSON body on the way (after schemathesis is done),
    and `change_bytes(encoded body)` the encoded body (for what Python's json.dumps cannot write, e.g. 3000 deep)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    url = requests.Request("GET", kwargs["url"], params=kwargs.get("params") or None).prepare().url
    parts = urlsplit(url)
    path = gateway_path(parts.path) + (f"?{parts.query}" if parts.query else "")

    if "json" in kwargs:
        body = json.dumps(change_body(kwargs["json"]) if change_body else kwargs["json"]).encode()
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body = data if isinstance(data, bytes) else str(data).encode()
    else:
        body = b""
    if change_bytes:
        body = change_bytes(body)

    headers = {k: v for k, v in (kwargs.get("headers") or {}).items()
               if k.lower() not in ("authorization", HEADER.lower(), "content-length")}
    if body:  # the media type the spec declares for the body (text/csv for a roster), JSON otherwise
        headers["Content-Type"] = case.media_type or "application/json"
    security = _security(case.operation)
    if "BearerToken" in security:
        headers["Authorization"] = token
    if "KarmayogiSignature" in security:
        headers[HEADER] = sign(body, SECRET, int(time.time()))
    if "XapiBasic" in security:  # an xAPI client's credentials (the world fixture configures the client)
        headers["Authorization"] = "Basic " + base64.b64encode(XAPI_CLIENT.encode()).decode()
    response = client.http.request(case.method.upper(), path, headers=headers, body=body, authorization=None)

    where = f"{case.method.upper()} {path}\nheaders: {headers}\nbody: {body[:2000]!r}"
    assert response.status_code < 500, f"{response.status_code} for {where}\nanswer: {response.body[:2000]!r}"
    if response.headers.get("Content-Type", "").startswith("text/csv"):  # a CSV export (campaign report)
        documented = spec()["paths"][case.path][case.method.lower()]["responses"].get(str(response.status_code), {})
        assert "text/csv" in documented.get("content", {}), f"undocumented CSV for {where}"
        return response
    media_type = (response.headers.get("Content-Type") or "application/json").split(";")[0].strip()
    if media_type != "application/json":  # an SVG image, a compact VC-JWT: only where the spec says so
        assert media_type in documented_media_types(case.path, case.method, response.status_code), \
            f"{media_type} answer not documented for {where}"
        return response
    assert response.json_body is not None or response.body == b"", f"not JSON: {response.body[:500]!r} for {where}"
    try:
        assert_matches_spec(case.path, case.method, response.status_code, response.json_body)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nrequest: {where}") from None
    return response


# --- the fuzz pass ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world():
    """One moto world for the whole pass (seeding it per operation would cost more than the fuzzing), with some
    real data so that reads find something: the fixture events (local/fixtures/events), scored. What one operation's cases
    write, the next operation's cases may read, as in a running service."""
    os.environ["KARMAYOGI_XAPI_CLIENTS"] = XAPI_CLIENT
    with aws_world() as adapters, app_client() as client:
        for path in sorted((FIXTURES / "events").glob("*.json")):
            body = path.read_bytes()
            assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
        pump(client, adapters)
        assert client.http.get(f"/v1/learners/{KNOWN_LEARNER}").status_code == 200
        yield client, adapters


def _fuzz(strategy, check):
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                HealthCheck.data_too_large])
    @given(case=strategy)
    def run(case):
        check(case)
    run()


@pytest.mark.parametrize("operation,mode", CASES)
def test_no_request_gets_a_5xx_and_every_answer_is_documented(world, operation, mode):
    client, token = world[0], bearer()["Authorization"]
    strategy = operation.as_strategy(generation_mode=mode)
    if "{learner_id}" in operation.path and mode is GenerationMode.POSITIVE:
        # random ids only find 404s: half the cases are about a learner who exists, the rest fuzzed as before
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode,
                                                             path_parameters={"learner_id": KNOWN_LEARNER}))
    _fuzz(strategy, lambda case: send(client, case, token))


# Schemathesis only generates valid Unicode, but JSON may carry what is not: "\ud800" is valid JSON text whose
# string no UTF-8 encoder (nor DynamoDB) accepts. Each JSON body gets a lone surrogate in one of its strings.
BODY_OPERATIONS = [pytest.param(op, id=f"{op.method.upper()} {op.path}") for op in OPERATIONS
                   if "application/json" in _definition(op)[1].get("requestBody", {}).get("content", {})]


def _with_a_lone_surrogate(value, where: int, surrogate: str):
    """`value` with `surrogate` put into its `where`-th string (keys included), counting in document order."""
    counter = [where]

    def visit(node):
        if isinstance(node, str):
            counter[0] -= 1
            return node + surrogate if counter[0] == -1 else node
        if isinstance(node, list):
            return [visit(item) for item in node]
        if isinstance(node, dict):
            return {visit(key): visit(item) for key, item in node.items()}
        return node
    return visit(value)


@pytest.mark.parametrize("operation", BODY_OPERATIONS)
def test_a_lone_surrogate_in_a_json_body_is_refused_not_a_5xx(world, operation):
    client, token = world[0], bearer()["Authorization"]
    cases = st.tuples(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      st.integers(min_value=0, max_value=50), st.characters(categories=["Cs"]))

    def check(drawn):
        case, where, surrogate = drawn
        send(client, case, token, lambda body: _with_a_lone_surrogate(body, where, surrogate))
    _fuzz(cases, check)


def test_whatever_the_webhook_accepted_is_scored_without_a_failure(world):
    """After the pass: the consumer reports no failed message for anything the fuzzed webhook accepted."""
    client, adapters = world
    failures, invoke = [], client.lambda_.invoke

    def counting_invoke(name, event):
        result = invoke(name, event)
        failures.extend(result.payload.get("batchItemFailures", []))
        return result
    client.lambda_.invoke = counting_invoke
    try:
        pump(client, adapters)
    finally:
        client.lambda_.invoke = invoke
    assert failures == []


def test_the_fuzz_pass_covers_every_operation():
    documented = {(path, method) for path, item in spec()["paths"].items() for method in item
                  if method in ("get", "put", "post", "delete", "patch")}
    assert {(op.path, op.method.lower()) for op in OPERATIONS} == documented


# --- deeper nesting and boundary dates in every JSON body (issue 15) ------------------------------------------

BOUNDARY_DATES = ["0001-01-01T00:00:00+05:30", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00",
                  "9999-12-31T23:59:59.999999Z", "2019-12-31T23:59:59Z", "2020-01-01T00:00:00Z",
                  "2020-01-01T05:29:59+05:30", "1970-01-01T00:00:00Z", "2100-01-01T00:00:00+14:00",
                  "2024-02-29T23:59:60Z", "2024-10-21T10:15:00"]


DEEP = "__deep__"  # stands for the deep value in the JSON value; replaced in the encoded body


def _nested_text(depth: int) -> bytes:
    """`depth` levels of alternating arrays and objects, written directly (json.dumps stops near 1000)."""
    opening = "".join('{"a":' if n % 2 else "[" for n in range(depth))
    closing = "".join("}" if n % 2 else "]" for n in reversed(range(depth)))
    return (opening + "1" + closing).encode()


def _deepened(value, depth: int, date: str):
    """`value` with every date-like string replaced by `date`, and a field nested `depth` levels added to it
    (to its first element, if it is a list: a batch)."""
    def visit(node):
        if isinstance(node, str) and len(node) >= 10 and node[4:5] == "-" and node[:4].isdigit():
            return date
        if isinstance(node, list):
            return [visit(item) for item in node]
        if isinstance(node, dict):
            return {key: visit(item) for key, item in node.items()}
        return node
    value = visit(value)
    if isinstance(value, dict):
        return {**value, "deep": DEEP}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [{**value[0], "deep": DEEP}, *value[1:]]
    return [value, DEEP]


@pytest.mark.parametrize("operation", BODY_OPERATIONS)
def test_deep_nesting_and_boundary_dates_are_refused_not_a_5xx(world, operation):
    client, token = world[0], bearer()["Authorization"]
    cases = st.tuples(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      st.sampled_from([2, 31, 32, 33, 64, 255, 256, 257, 900, 1000, 3000]),
                      st.sampled_from(BOUNDARY_DATES))

    def check(drawn):
        case, depth, date = drawn
        send(client, case, token, lambda body: _deepened(body, depth, date),
             lambda encoded: encoded.replace(f'"{DEEP}"'.encode(), _nested_text(depth), 1))
    _fuzz(cases, check)
