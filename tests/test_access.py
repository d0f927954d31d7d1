"""Who may see what, cell by cell through the routes (the README's access table)."""
import json

import pytest

from tests.conftest import bearer, pump, signed_headers, token
from tests.openapi_check import assert_matches_spec

TREE = [("min_a", "ministry", None), ("dept_a", "department", "min_a"), ("org_a1", "mdo", "dept_a"),
        ("org_a2", "mdo", "dept_a"), ("min_b", "ministry", None), ("org_b1", "mdo", "min_b")]
LEARNERS = {"la1": "org_a1", "la2": "org_a2", "lb1": "org_b1"}

CALLERS = {
    "learner la1 (self)": ("la1", ["learner"], "org_a1"),
    "learner la2": ("la2", ["learner"], "org_a2"),
    "mdo_admin of org_a1": ("adm-a1", ["mdo_admin"], "org_a1"),
    "mdo_admin of dept_a": ("adm-dept", ["mdo_admin", "learner"], "dept_a"),
    "mdo_admin of min_a": ("adm-min-a", ["mdo_admin"], "min_a"),
    "mdo_admin of min_b": ("adm-min-b", ["mdo_admin"], "min_b"),
    "national_admin": ("nat", ["national_admin"], None),
}
# Reading learner la1's data: who may?
MAY_READ_LA1 = {"learner la1 (self)", "mdo_admin of org_a1", "mdo_admin of dept_a", "mdo_admin of min_a",
                "national_admin"}
LEARNER_ROUTES = ["/v1/learners/la1", "/v1/learners/la1/ledger"]
OPEN_TO_ANY_TOKEN = ["/v1/badges", "/v1/leaderboards/learners?scope=national&period=all",
                     "/v1/leaderboards/orgs?scope=national&period=all"]


@pytest.fixture
def world(client, aws):
    events = [{"id": f"org-{o}", "type": "org.upserted", "occurred_at": "2024-01-01T00:00:00+05:30",
               "org": {"id": o, "name": o, "type": t, "parent_id": p}} for o, t, p in TREE]
    events += [{"id": f"c-{learner}", "type": "course.completed", "occurred_at": "2024-10-21T10:00:00+05:30",
                "learner": {"id": learner, "org_id": org}, "course": {"id": "do_1", "duration_minutes": 30}}
               for learner, org in LEARNERS.items()]
    body = json.dumps(events).encode()
    assert client.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(client, aws)
    return client


def _as(caller: str) -> dict:
    sub, roles, org = CALLERS[caller]
    return bearer(sub, roles, org)


def _template(route: str) -> str:
    return route.split("?")[0].replace("la1", "{learner_id}")


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("route", LEARNER_ROUTES)
def test_learner_data_is_for_the_learner_and_the_admins_above_them(world, caller, route):
    response = world.http.get(route, headers=_as(caller))
    expected = 200 if caller in MAY_READ_LA1 else 403
    assert response.status_code == expected, response.json_body
    assert_matches_spec(_template(route), "get", expected, response.json_body)


# The privacy routes on learner la1's data: who may? (admins of la1's org read preferences, never change them)
SELF_OR_NATIONAL = {"learner la1 (self)", "national_admin"}
PRIVACY_ROUTES = {
    ("GET", "/v1/learners/la1/preferences"): MAY_READ_LA1,
    ("PUT", "/v1/learners/la1/preferences"): SELF_OR_NATIONAL,
    ("GET", "/v1/learners/la1/export"): SELF_OR_NATIONAL,
    ("POST", "/v1/learners/la1/erase"): {"national_admin"},
}
PRIVACY_BODIES = {"PUT": b'{"leaderboard_visibility": "hidden"}', "POST": b""}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("method,route", list(PRIVACY_ROUTES))
def test_preferences_export_and_erasure_follow_the_role_table(world, caller, method, route):
    response = world.http.request(method, route, headers={"Content-Type": "application/json", **_as(caller)},
                                  body=PRIVACY_BODIES.get(method, b""))
    expected = 200 if caller in PRIVACY_ROUTES[(method, route)] else 403
    assert response.status_code == expected, response.json_body
    assert_matches_spec(_template(route), method.lower(), expected, response.json_body)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("route", OPEN_TO_ANY_TOKEN)
def test_badges_and_every_leaderboard_are_open_to_any_signed_in_caller(world, caller, route):
    response = world.http.get(route, headers=_as(caller))
    assert response.status_code == 200, response.json_body
    assert_matches_spec(_template(route), "get", 200, response.json_body)


@pytest.mark.parametrize("method,route", [("GET", r) for r in LEARNER_ROUTES + OPEN_TO_ANY_TOKEN] + list(PRIVACY_ROUTES))
def test_no_token_or_an_expired_one_is_a_401(world, method, route):
    for authorization in (None, "Bearer " + token("la1", ["learner"], "org_a1", exp=1_000_000_000)):
        response = world.http.request(method, route, body=PRIVACY_BODIES.get(method, b""),
                                      headers={"Content-Type": "application/json"}, authorization=authorization)
        assert response.status_code == 401
        assert response.json_body["error"]["field"] == "Authorization"


def test_an_admin_of_another_ministry_cannot_probe_for_learners_by_id(world):
    """Unknown and foreign ids look the same to someone who may not see them: no way to enumerate."""
    foreign = world.http.get("/v1/learners/la1", headers=_as("mdo_admin of min_b"))
    unknown = world.http.get("/v1/learners/nobody", headers=_as("mdo_admin of min_b"))
    assert foreign.status_code == unknown.status_code == 403
    assert world.http.get("/v1/learners/nobody", headers=_as("national_admin")).status_code == 404
    assert world.http.get("/v1/learners/lb1", headers=_as("mdo_admin of min_b")).status_code == 200


def test_the_webhook_and_the_health_check_need_no_token(world):
    assert world.http.get("/health", authorization=None).status_code == 200
    body = b'{"id": "e-x", "type": "learner.first_login", "occurred_at": "2024-10-21T10:00:00+05:30", ' \
           b'"learner": {"id": "la1", "org_id": "org_a1"}}'
    assert world.http.post("/v1/events", body=body, headers=signed_headers(body), authorization=None).status_code == 202


@pytest.mark.parametrize("caller", list(CALLERS))
def test_the_review_queue_is_for_national_admins_only(world, caller):
    listing = world.http.get("/v1/review/held", headers=_as(caller))
    decision = world.http.post("/v1/review/c-la1/release", body=b'{"learner_id": "la1"}',
                               headers={"Content-Type": "application/json", **_as(caller)})
    if caller == "national_admin":
        assert listing.status_code == 200
        assert decision.status_code == 409  # allowed to decide, but this completion was never held
    else:
        assert (listing.status_code, decision.status_code) == (403, 403)
    assert_matches_spec("/v1/review/held", "get", listing.status_code, listing.json_body)
    assert_matches_spec("/v1/review/{event_id}/release", "post", decision.status_code, decision.json_body)
