"""openapi.yaml is valid, describes exactly the routes app.py serves, and agrees with the event models."""
import json
import re

import pytest
from openapi_spec_validator import validate
from pydantic import TypeAdapter

import app as application
from chalicelib import settings
from chalicelib.events import EVENT_TYPES, Event, InvalidEvent, parse_event
from chalicelib.ingestion.signature import HEADER
from chalicelib.rules.config import badge_catalogue
from tests.conftest import FIXTURES, fixture_event
from tests.openapi_check import (HTTP_METHODS, assert_matches_schema, assert_matches_spec, event_validator,
                                 request_validator, spec)


def test_the_spec_is_valid_openapi_3_1():
    assert spec()["openapi"].startswith("3.1")
    validate(spec())


def _spec_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec()["paths"].items() for method in item if method in HTTP_METHODS}


def _app_operations() -> set[tuple[str, str]]:
    """The JSON API's routes: the HTML pages (app.PAGE_ROUTES, tested in tests/test_pages.py) are not in the spec."""
    return {(path, method.lower()) for path, methods in application.app.routes.items() for method in methods
            if path not in application.PAGE_ROUTES}


def test_every_route_is_documented_and_every_documented_operation_is_a_route():
    assert _app_operations() - _spec_operations() == set(), "routes missing from openapi.yaml"
    assert _spec_operations() - _app_operations() == set(), "operations in openapi.yaml that app.py does not serve"


def test_path_parameters_match_the_routes():
    for path, methods in application.app.routes.items():
        if path in application.PAGE_ROUTES:
            continue
        item = spec()["paths"][path]
        for method, entry in methods.items():
            params = item.get("parameters", []) + item[method.lower()].get("parameters", [])
            resolved = [spec()["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                        for p in params]
            assert sorted(p["name"] for p in resolved if p["in"] == "path") == sorted(entry.view_args), path
            assert set(re.findall(r"{(\w+)}", path)) == set(entry.view_args)


def test_every_operation_documents_the_framework_415_and_has_an_operation_id():
    ids = []
    for path, method in _spec_operations():
        op = spec()["paths"][path][method]
        assert "415" in op["responses"], f"{method} {path}"
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


# Open Badges credentials: what a verifier anywhere must reach without an account (chalicelib/credentials/).
PUBLIC = {(path, "get"): [] for path in ("/credentials/{credential_id}", "/credentials/status/{list_id}", "/issuer",
                                         "/issuer/jwks.json", "/badges/{badge_id}/image.svg")}
PUBLIC[("/v1/credentials/verify", "post")] = []


def test_the_signature_scheme_names_the_real_header_and_guards_only_the_webhook():
    scheme = spec()["components"]["securitySchemes"]["KarmayogiSignature"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", HEADER)
    assert "HMAC-SHA256" in scheme["description"] and "300" in scheme["description"]
    bearer = spec()["components"]["securitySchemes"]["BearerToken"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")
    for path, method in _spec_operations():
        security = spec()["paths"][path][method].get("security")
        expected = {("/v1/events", "post"): [{"KarmayogiSignature": []}], ("/health", "get"): [], **PUBLIC,
                    ("/v1/platform/events", "post"): [{"KarmayogiSignature": []}],  # the platform's own records
                    # a signed token in the link is the authority
                    ("/v1/unsubscribe", "get"): [], ("/v1/unsubscribe", "post"): [],
                    # xAPI clients (LMSs) authenticate with HTTP Basic (chalicelib/xapi/clients.py)
                    **{(p, m): [{"XapiBasic": []}] for p, m in (("/xapi/statements", "post"),
                                                                 ("/xapi/statements", "put"), ("/xapi/courses", "put"))},
                    ("/xapi/about", "get"): []}
        assert security == expected.get((path, method), [{"BearerToken": []}]), (path, method)


def test_every_operation_the_spec_guards_with_a_token_refuses_a_call_without_one(client):
    """What the spec says about tokens is what the app does (path parameters filled with a dummy id)."""
    for path, method in _spec_operations():
        url = path.replace("{learner_id}", "u-0001").replace("{org_id}", "org_x")
        media_type = next(iter(spec()["paths"][path][method].get("requestBody", {}).get("content", {})),
                          "application/json")
        response = client.http.request(method.upper(), url, headers={"Content-Type": media_type},
                                       body=b"{}", authorization=None)
        # a token, or an xAPI client's Basic credentials: both are asked for in Authorization
        guarded = spec()["paths"][path][method].get("security") in ([{"BearerToken": []}], [{"XapiBasic": []}])
        asked_for_token = (response.status_code == 401
                           and response.json_body["error"].get("field") == "Authorization")
        assert asked_for_token == guarded, (method, path, response.status_code)
        if guarded:
            assert_matches_spec(path, method, 401, response.json_body)


def test_documented_limits_are_the_configured_defaults():
    limits, schemas = settings.Limits(), spec()["components"]["schemas"]
    assert schemas["EventBatch"]["maxItems"] == limits.max_batch_events
    assert schemas["IngestionResults"]["properties"]["results"]["maxItems"] == limits.max_batch_events
    limit = next(p for p in spec()["paths"]["/v1/learners/{learner_id}/ledger"]["get"]["parameters"]
                 if p["name"] == "limit")
    assert limit["schema"]["maximum"] == limits.max_page_size
    assert f"{limits.max_body_bytes:,}" in spec()["info"]["description"]
    signature = spec()["components"]["securitySchemes"]["KarmayogiSignature"]["description"]
    assert f"within {limits.signature_tolerance_seconds} seconds" in signature


def test_the_badge_metrics_and_levels_cover_the_catalogue():
    badge = spec()["components"]["schemas"]["Badge"]["properties"]
    for b in badge_catalogue():
        assert b.metric in badge["metric"]["enum"] and b.level in badge["level"]["enum"], b.id
    assert_matches_spec("/v1/badges", "get", 200, {"badges": [b.as_dict() for b in badge_catalogue()]})


# --- the event contract: spec and pydantic models agree -------------------------------------------------

_KEEP = ("type", "minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems", "const",
         "enum", "format", "additionalProperties", "required")


def _normal(schema: dict, components: dict, models: set) -> dict:
    """The validation-relevant content of a schema, with references to shared scalars (Id, Text...) inlined
    and references to models kept by name, so that pydantic's schema and the spec's can be compared."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in models:
            return {"$model": name}
        return _normal({**components[name], **{k: v for k, v in schema.items() if k != "$ref"}}, components, models)
    out = {k: schema[k] for k in _KEEP if k in schema}
    for key in ("required", "enum"):
        if key in out:
            out[key] = sorted(out[key])
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        out["anyOf"] = sorted((_normal(s, components, models) for s in alternatives), key=json.dumps)
    if "items" in schema:
        out["items"] = _normal(schema["items"], components, models)
    if "properties" in schema:
        out["properties"] = {k: _normal(v, components, models) for k, v in schema["properties"].items()}
    return out


def test_every_event_model_has_the_same_fields_and_constraints_in_the_spec():
    pydantic = TypeAdapter(Event).json_schema()
    models, components = set(pydantic["$defs"]), spec()["components"]["schemas"]
    assert models - set(components) == set(), "models without a schema in openapi.yaml"
    differ = {name: (_normal(components[name], components, models), _normal(model, pydantic["$defs"], models))
              for name, model in pydantic["$defs"].items()}
    differ = {name: pair for name, pair in differ.items() if pair[0] != pair[1]}
    assert differ == {}, "openapi.yaml (first) and chalicelib/events.py (second) disagree"


def test_the_event_discriminator_covers_every_event_type():
    pydantic = TypeAdapter(Event).json_schema()
    event = spec()["components"]["schemas"]["Event"]
    assert event["discriminator"]["propertyName"] == pydantic["discriminator"]["propertyName"] == "type"
    assert set(event["discriminator"]["mapping"]) == set(EVENT_TYPES) == set(pydantic["discriminator"]["mapping"])
    for type_, ref in event["discriminator"]["mapping"].items():
        assert ref.rsplit("/", 1)[1] == pydantic["discriminator"]["mapping"][type_].rsplit("/", 1)[1]
        assert {"$ref": ref} in event["oneOf"]


def _fixture_events():
    for path in sorted((FIXTURES / "events").glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, list):
            # batch.json's third event is invalid on purpose (occurred_at "not-a-date")
            yield from ((f"{path.stem}[{n}]", e) for n, e in enumerate(data) if e["occurred_at"] != "not-a-date")
        else:
            yield path.stem, data


_FIXTURE_EVENTS = list(_fixture_events())


@pytest.mark.parametrize("name,event", _FIXTURE_EVENTS, ids=[name for name, _ in _FIXTURE_EVENTS])
def test_fixture_events_match_the_spec_and_the_models(name, event):
    errors = [e.message for e in event_validator().iter_errors(event)]
    assert errors == [], f"{name}: {errors}"
    assert parse_event(event).type == event["type"]


def test_the_invalid_event_of_batch_json_fails_the_spec_and_the_request_body_admits_the_batch():
    batch = json.loads((FIXTURES / "events" / "batch.json").read_text())
    assert not event_validator().is_valid(batch[2])
    assert request_validator("/v1/events", "post").is_valid(batch[:2])
    assert request_validator("/v1/events", "post").is_valid(fixture_event("course.completed"))
    assert not request_validator("/v1/events", "post").is_valid([])
    assert not request_validator("/v1/events", "post").is_valid([fixture_event("course.rated")] * 101)


def _completed(**changes):
    event = fixture_event("course.completed")
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = event
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if value is _DROP:
            del target[leaf]
        else:
            target[leaf] = value
    return event


_DROP = object()
_INVALID = {
    "missing learner.org_id": lambda: _completed(learner__org_id=_DROP),
    "missing id": lambda: _completed(id=_DROP),
    "id with a space": lambda: _completed(id="evt 1"),
    "id of 129 characters": lambda: _completed(id="e" * 129),
    "empty id": lambda: _completed(id=""),
    "unknown type": lambda: _completed(type="course.finished"),
    "no type": lambda: _completed(type=_DROP),
    "occurred_at not a date": lambda: _completed(occurred_at="not-a-date"),
    "occurred_at without offset": lambda: _completed(occurred_at="2024-10-21T10:15:00"),
    "negative duration": lambda: _completed(course__duration_minutes=-1),
    "duration over the limit": lambda: _completed(course__duration_minutes=100_001),
    "unknown competency area": lambda: _completed(course__competencies__0__area="technical"),
    "51 competencies": lambda: _completed(
        course__competencies=[{"id": f"C{n}", "area": "domain"} for n in range(51)]),
    "course name of 301 characters": lambda: _completed(course__name="x" * 301),
    "null primary_category": lambda: _completed(course__primary_category=None),
    "acbp end_date not a date": lambda: _completed(acbp__end_date="31-12-2024"),
    "assessment without passed": lambda: _completed(assessment__passed=_DROP),
    "score over 100": lambda: _completed(assessment__score_percent=101),
    "rating over 5": lambda: {**fixture_event("course.rated"), "rating": 5.5},
    "rating missing": lambda: {k: v for k, v in fixture_event("course.rated").items() if k != "rating"},
    "minutes over a day": lambda: {**fixture_event("learning.time_spent"), "minutes": 1441},
    "bad email": lambda: {**fixture_event("learner.upserted"),
                          "learner": {**fixture_event("learner.upserted")["learner"], "email": "ananya@"}},
    "bad language": lambda: {**fixture_event("learner.upserted"),
                             "learner": {**fixture_event("learner.upserted")["learner"], "language": "HINDI"}},
    "unknown org type": lambda: {**fixture_event("org.upserted"),
                                 "org": {**fixture_event("org.upserted")["org"], "type": "city"}},
    "org without name": lambda: {**fixture_event("org.upserted"), "org": {"id": "o1", "type": "mdo"}},
    "learner block on an org event only": lambda: {**{k: v for k, v in fixture_event("org.upserted").items()
                                                       if k != "org"},
                                                   "learner": {"id": "u1", "org_id": "o1"}},
    "not an object": lambda: ["course.completed"],
}


@pytest.mark.parametrize("case", list(_INVALID))
def test_the_spec_and_the_models_both_reject(case):
    event = _INVALID[case]()
    assert not event_validator().is_valid(event), f"openapi.yaml accepts {case}"
    with pytest.raises(InvalidEvent):
        parse_event(event)


_VALID = {
    "Z offset": lambda: _completed(occurred_at="2024-10-21T04:45:00Z"),
    "fractional seconds": lambda: _completed(occurred_at="2024-10-21T10:15:00.123+05:30"),
    "unknown fields kept": lambda: _completed(certificate_id="c1", course__new_field={"a": 1}),
    "nulls for optional blocks": lambda: _completed(acbp=None, assessment=None, course__name=None),
    "minimal course": lambda: _completed(course={"id": "do_1"}, acbp=_DROP, assessment=_DROP),
    "first login": lambda: {"id": "evt_login_1", "type": "learner.first_login",
                            "occurred_at": "2024-10-01T09:00:00+05:30", "learner": {"id": "u1", "org_id": "o1"}},
    "longest id": lambda: _completed(id="e" * 128),
}


@pytest.mark.parametrize("case", list(_VALID))
def test_the_spec_and_the_models_both_accept(case):
    event = _VALID[case]()
    assert [e.message for e in event_validator().iter_errors(event)] == []
    parse_event(event)


# --- the helper itself ----------------------------------------------------------------------------------

def test_the_helper_rejects_undocumented_statuses_and_fields():
    with pytest.raises(AssertionError, match="does not document"):
        assert_matches_spec("/health", "get", 418, {"status": "ok"})
    with pytest.raises(AssertionError, match="does not match"):
        assert_matches_spec("/health", "get", 200, {"status": "ok", "extra": 1})
    with pytest.raises(AssertionError, match="does not match"):
        assert_matches_spec("/v1/learners/{learner_id}", "get", 404, {"Code": "x", "Message": "y"})
    with pytest.raises(AssertionError, match="does not match"):  # formats are checked
        assert_matches_schema("AwardedBadge", {"id": "b", "name": "B", "awarded_at": "yesterday", "event_id": "e",
                                               "why": None})
    assert_matches_spec("/v1/learners/{learner_id}", "get", 404,
                        {"error": {"code": "not_found", "message": "learner u1 not found"}})
