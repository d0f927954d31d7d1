"""Privacy through the routes (moto): leaderboard visibility, preferences, masked contact, export, erasure.
Every response body is checked against openapi.yaml."""
import json
import zlib

import boto3
import pytest

from chalicelib import settings
from chalicelib.events import parse_event
from chalicelib.storage.models import EventRecord, LearnerRecord
from tests.conftest import bearer, pump, signed_headers
from tests.openapi_check import assert_matches_spec
from tests.rules_builders import ist
from tests.test_leaderboards import earn, org_event

NAME, EMAIL, PHONE = "Asha Rao", "asha.rao@example.gov.in", "+919845012345"
PERSONAL = [NAME, EMAIL, PHONE, "9845012345", "asha.rao", "ASHA-0042", "Under Secretary"]
TREE = [org_event("min_a", "ministry", name="Ministry A"), org_event("dept_a", "department", "min_a", name="Dept A"),
        org_event("org_a1", "mdo", "dept_a", name="Org A1"), org_event("org_a2", "mdo", "dept_a", name="Org A2"),
        org_event("min_b", "ministry", name="Ministry B"), org_event("org_b1", "mdo", "min_b", name="Org B1")]
# all-time points: lb1 30, x1 25, x2 20, la2 15, la1 10, x3 5 (ranks 1 to 6)
POINTS = {"lb1": ("org_b1", 30), "x1": ("org_b1", 25), "x2": ("org_b1", 20), "la2": ("org_a2", 15),
          "la1": ("org_a1", 10), "x3": ("org_b1", 5)}
VIEWERS = {
    "la1 (self)": ("la1", ["learner"], "org_a1"),
    "colleague in org_a1": ("la9", ["learner"], "org_a1"),
    "la2 (org_a2, same dept)": ("la2", ["learner"], "org_a2"),
    "mdo_admin of dept_a": ("adm-dept", ["mdo_admin"], "dept_a"),
    "mdo_admin of min_b": ("adm-min-b", ["mdo_admin"], "min_b"),
    "national_admin": ("nat", ["national_admin"], None),
}
SEES_ORG = {"la1 (self)", "colleague in org_a1", "mdo_admin of dept_a", "national_admin"}
BOARD = "/v1/leaderboards/learners"
PREFS = "/v1/learners/{learner_id}/preferences"

# Notification channels (learners/preferences.py): email on everywhere, SMS only for nudges.
DEFAULT_CHANNELS = {"notifications": {
    "awards": {"email": True, "sms": False}, "campaign_reminders": {"email": True, "sms": False},
    "nudges": {"email": True, "sms": True}, "admin_summaries": {"email": True, "sms": False}}}


def profile(learner="la1", at="2024-10-01T09:00:00+05:30", event_id="p-la1-1", **fields) -> dict:
    block = {"id": learner, "org_id": "org_a1", "name": NAME, "designation": "Under Secretary", "group": "Group A",
             "email": EMAIL, "phone": PHONE, "language": "hi", "employee_code": "ASHA-0042", **fields}
    return {"id": event_id, "type": "learner.upserted", "occurred_at": at, "learner": block}


def send(client, aws, events, pumped=True):
    body = json.dumps(events).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body), authorization=None)
    assert response.status_code == 202, response.json_body
    if pumped:
        pump(client, aws)
    return response.json_body


def call(client, method, template, status, learner_id="la1", as_=None, body=None, query=""):
    headers = {"Content-Type": "application/json", **(bearer(*VIEWERS[as_]) if as_ else {})}
    url = template.format(learner_id=learner_id) + (f"?{query}" if query else "")
    response = client.http.request(method, url, headers=headers,
                                   body=json.dumps(body).encode() if body is not None else b"")
    assert response.status_code == status, response.json_body
    return assert_matches_spec(template, method.lower(), status, response.json_body)


def board(client, as_="national_admin", query="scope=national&period=all"):
    return call(client, "GET", BOARD, 200, as_=as_, query=query)


def la1_row(body):
    """la1's row, found by its place (rank 5): its id may be hidden."""
    rows = [r for r in body["entries"] if r["points"] == 10]
    assert len(rows) == 1
    return rows[0]


@pytest.fixture
def world(client, aws):
    events = list(TREE) + [profile()]
    for learner, (org, points) in POINTS.items():
        events += earn(learner, points, ist(2024, 10, 21), org, tag=learner)
    send(client, aws, events)
    return client


def set_visibility(client, visibility, learner="la1"):
    return call(client, "PUT", PREFS, 200, learner_id=learner, as_="la1 (self)" if learner == "la1" else None,
                body={"leaderboard_visibility": visibility})


# --- leaderboard visibility -----------------------------------------------------------------------------

@pytest.mark.parametrize("visibility", ["public", "org", "hidden", None])
def test_who_sees_the_name_on_a_board(world, visibility):
    if visibility:
        set_visibility(world, visibility)
    expected_seers = {"public": set(VIEWERS), "org": SEES_ORG, None: SEES_ORG, "hidden": {"la1 (self)"}}[visibility]
    reference = board(world)
    for viewer in VIEWERS:
        body = board(world, viewer)
        row = la1_row(body)
        if viewer in expected_seers:
            assert (row["learner_id"], row["name"]) == ("la1", NAME), viewer
        else:
            assert (row["learner_id"], row["name"]) == (None, "A Karmayogi from Org A1"), viewer
        # ranks, points and the total are the same whatever is shown
        assert [(r["rank"], r["points"], r["org_id"]) for r in body["entries"]] == \
               [(r["rank"], r["points"], r["org_id"]) for r in reference["entries"]] == \
               [(n, p, o) for n, (o, p) in enumerate(POINTS.values(), start=1)]
        assert body["total"] == 6


def test_the_default_is_org_and_other_learners_without_preferences_follow_it_too(world):
    assert call(world, "GET", PREFS, 200, as_="la1 (self)") == {"language": "hi", "leaderboard_visibility": "org", **DEFAULT_CHANNELS}
    rows = board(world, "mdo_admin of min_b")["entries"]  # administers org_b1 only
    assert [(r["learner_id"], r["name"]) for r in rows] == [
        ("lb1", None), ("x1", None), ("x2", None), (None, "A Karmayogi from Org A2"),
        (None, "A Karmayogi from Org A1"), ("x3", None)]


def test_a_change_of_visibility_shows_on_the_next_read_without_a_recompute(world, aws):
    assert la1_row(board(world, "la2 (org_a2, same dept)"))["learner_id"] is None
    set_visibility(world, "public")
    assert aws.queue.url and pump(world, aws) == 0  # nothing was queued: names are resolved at read time
    assert la1_row(board(world, "la2 (org_a2, same dept)"))["name"] == NAME
    set_visibility(world, "hidden")
    assert la1_row(board(world, "national_admin")) == {"rank": 5, "learner_id": None, "name": "A Karmayogi from Org A1",
                                                       "org_id": "org_a1", "points": 10, "previous_rank": None}


def test_org_scoped_boards_and_period_boards_hide_the_same_way(world):
    set_visibility(world, "hidden")
    for query in ("scope=org:org_a1&period=all", "scope=dept:dept_a&period=month:2024-10",
                  "scope=ministry:min_a&period=week:2024-W43"):
        rows = board(world, "colleague in org_a1", query)["entries"]
        assert [(r["learner_id"], r["name"], r["points"]) for r in rows if r["org_id"] == "org_a1"] == \
               [(None, "A Karmayogi from Org A1", 10)], query
        mine = board(world, "la1 (self)", query)["entries"]
        assert [(r["learner_id"], r["name"]) for r in mine if r["org_id"] == "org_a1"] == [("la1", NAME)]


def test_around_a_hidden_learner_shows_only_the_top_three_to_others(world):
    set_visibility(world, "hidden")
    around = "scope=national&period=all&around=la1"
    for viewer in ("la2 (org_a2, same dept)", "national_admin", "mdo_admin of dept_a"):
        rows = board(world, viewer, around)["entries"]
        assert [r["points"] for r in rows] == [30, 25, 20], viewer  # the top three alone
    rows = board(world, "la1 (self)", around)["entries"]
    assert [r["points"] for r in rows] == [30, 25, 20, 15, 10, 5]
    assert rows[4]["learner_id"] == "la1"
    set_visibility(world, "public")
    rows = board(world, "mdo_admin of min_b", around)["entries"]
    assert [r["points"] for r in rows] == [30, 25, 20, 15, 10, 5]


# --- preferences ----------------------------------------------------------------------------------------

def test_preferences_round_trip_and_a_put_replaces_the_whole_document(world):
    assert call(world, "PUT", PREFS, 200, as_="la1 (self)", body={"language": "ta", "leaderboard_visibility": "hidden"}) \
        == {"language": "ta", "leaderboard_visibility": "hidden", **DEFAULT_CHANNELS}
    assert call(world, "GET", PREFS, 200, as_="la1 (self)") == {"language": "ta", "leaderboard_visibility": "hidden", **DEFAULT_CHANNELS}
    # left out: back to the default (language from the profile, visibility org)
    assert call(world, "PUT", PREFS, 200, as_="la1 (self)", body={"leaderboard_visibility": "public"}) \
        == {"language": "hi", "leaderboard_visibility": "public", **DEFAULT_CHANNELS}
    assert call(world, "PUT", PREFS, 200, as_="la1 (self)", body={}) == {"language": "hi",
                                                                         "leaderboard_visibility": "org", **DEFAULT_CHANNELS}
    # a learner whose profile has no language gets English
    assert call(world, "GET", PREFS, 200, learner_id="la2", as_="la2 (org_a2, same dept)") == {
        "language": "en", "leaderboard_visibility": "org", **DEFAULT_CHANNELS}
    # the admin of the learner's dept reads them; the national admin may change them
    assert call(world, "GET", PREFS, 200, as_="mdo_admin of dept_a")["language"] == "hi"
    assert call(world, "PUT", PREFS, 200, as_="national_admin", body={"language": "bn"})["language"] == "bn"


@pytest.mark.parametrize("body,field,message", [
    ({"theme": "dark"}, "theme", "is not a preference"),
    ({"language": "hi", "leaderboard_visibility": "friends"}, "leaderboard_visibility",
     "Input should be 'public', 'org' or 'hidden'"),
    ({"language": "klingon-secret-value"}, "language", None),
    ({"language": None}, "language", None),
    ({"leaderboard_visibility": 1}, "leaderboard_visibility", None),
    ([{"language": "hi"}], "body", "must be a JSON object"),
    ("hi", "body", "must be a JSON object"),
])
def test_bad_preferences_are_400_naming_the_field_and_change_nothing(world, body, field, message):
    error = call(world, "PUT", PREFS, 400, as_="la1 (self)", body=body)["error"]
    assert (error["code"], error["field"]) == ("invalid_request", field)
    if message:
        assert error["message"] == message
    assert "klingon" not in error["message"] and "secret" not in error["message"]  # no input echoed
    assert call(world, "GET", PREFS, 200, as_="la1 (self)") == {"language": "hi", "leaderboard_visibility": "org", **DEFAULT_CHANNELS}


def test_a_body_that_is_not_json_is_400(world):
    response = world.http.put("/v1/learners/la1/preferences", body=b"{not json", headers={
        "Content-Type": "application/json", **bearer(*VIEWERS["la1 (self)"])})
    assert response.status_code == 400
    assert response.json_body["error"] == {"code": "invalid_json", "message": "is not valid JSON", "field": "body"}


def test_a_learner_without_a_record_gets_404(world):
    headers = {"Content-Type": "application/json", **bearer("newbie", ["learner"], "org_a1")}
    for method in ("GET", "PUT"):
        response = world.http.request(method, "/v1/learners/newbie/preferences", headers=headers,
                                      body=b'{"leaderboard_visibility": "hidden"}')
        assert response.status_code == 404, method
        assert_matches_spec(PREFS, method.lower(), 404, response.json_body)


def test_a_scoring_save_never_wipes_preferences(world, aws):
    set_visibility(world, "hidden")
    send(world, aws, earn("la1", 5, ist(2024, 10, 28), "org_a1", tag="later")
         + [profile(at="2024-10-29T09:00:00+05:30", event_id="p-la1-2", name="Asha R.")])
    record = LearnerRecord.get("la1", consistent_read=True)
    assert (record.points, record.profile["name"], record.preferences) == (15, "Asha R.",
                                                                           {"leaderboard_visibility": "hidden"})
    assert call(world, "GET", PREFS, 200, as_="la1 (self)")["leaderboard_visibility"] == "hidden"
    assert la1_row(board(world, "national_admin", "scope=national&period=week:2024-W43"))["learner_id"] is None


# --- masked contact -------------------------------------------------------------------------------------

def test_the_summary_masks_contact_details(world, aws):
    body = call(world, "GET", "/v1/learners/{learner_id}", 200, as_="la1 (self)")
    assert body["contact"] == {"email": "a•••••@example.gov.in", "phone": "••••••2345"}
    assert body["name"] == NAME
    assert call(world, "GET", "/v1/learners/{learner_id}", 200, learner_id="la2", as_="national_admin")["contact"] \
        == {"email": None, "phone": None}
    text = json.dumps(body, ensure_ascii=False)
    assert EMAIL not in text and "9845012345" not in text and "asha.rao" not in text


# --- export ---------------------------------------------------------------------------------------------

EXPORT = "/v1/learners/{learner_id}/export"


def test_the_export_holds_everything_about_the_learner(world, aws):
    # 25 more webinars: more ledger entries than one page of the ledger route holds
    send(world, aws, [{"id": f"w-la1-{n:02d}", "type": "event.attended", "occurred_at": f"2024-09-{n + 1:02d}T10:00:00+05:30",
                       "learner": {"id": "la1", "org_id": "org_a1"}, "event": {"id": f"web-{n}", "duration_minutes": 30}}
                      for n in range(25)])
    set_visibility(world, "hidden")
    body = call(world, "GET", EXPORT, 200, as_="la1 (self)")
    assert body["learner_id"] == "la1" and body["erased_at"] is None and body["exported_at"].endswith("Z")
    assert body["profile"] == {"org_id": "org_a1", "name": NAME, "designation": "Under Secretary", "group": "Group A",
                               "email": EMAIL, "phone": PHONE, "language": "hi", "employee_code": "ASHA-0042"}
    assert body["preferences"] == {"language": "hi", "leaderboard_visibility": "hidden", **DEFAULT_CHANNELS}
    summary = call(world, "GET", "/v1/learners/{learner_id}", 200, as_="la1 (self)")
    assert body["standing"] == summary and body["standing"]["points"] == 135
    assert len(body["ledger"]) == 27 and sum(e["amount"] for e in body["ledger"]) == 135
    assert [e["recorded_at"] for e in body["ledger"]] == sorted(e["recorded_at"] for e in body["ledger"])
    assert len(body["events"]) == 1 + 2 + 25  # the profile, la1's two webinars, the 25 more
    stored_profile = next(e for e in body["events"] if e["type"] == "learner.upserted")
    assert stored_profile == {**profile(), "occurred_at": "2024-10-01T03:30:00Z"}  # as sent, in UTC
    assert [e["occurred_at"] for e in body["events"]] == sorted(e["occurred_at"] for e in body["events"])
    assert {(e["scope"], e["period"], e["points"]) for e in body["board_entries"]} >= {
        ("national", "all", 135), ("org:org_a1", "all", 135), ("dept:dept_a", "month:2024-10", 10),
        ("ministry:min_a", "month:2024-09", 125)}
    assert call(world, "GET", EXPORT, 200, as_="national_admin") | {"exported_at": None} == body | {"exported_at": None}


def test_the_export_is_for_the_learner_and_national_admins_only(world):
    for viewer in ("la2 (org_a2, same dept)", "colleague in org_a1", "mdo_admin of dept_a", "mdo_admin of min_b"):
        call(world, "GET", EXPORT, 403, as_=viewer)
    call(world, "GET", EXPORT, 404, learner_id="nobody", as_="national_admin")


# --- erasure --------------------------------------------------------------------------------------------

ERASE = "/v1/learners/{learner_id}/erase"


def _everything_stored() -> str:
    """Every item of every table, as text: what a search for personal data would see."""
    client = boto3.client("dynamodb", region_name=settings.REGION)
    items = [item for table in client.list_tables()["TableNames"]
             for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    # Binary attributes (the learner's periods, a scoring checkpoint) are zlib-compressed JSON: searched inflated.
    return json.dumps(items, ensure_ascii=False,
                      default=lambda value: zlib.decompress(value).decode() if isinstance(value, bytes) else value)


def test_erasure_removes_personal_data_everywhere_and_keeps_the_points(world, aws):
    set_visibility(world, "public")
    assert all(value in _everything_stored() for value in (NAME, EMAIL, PHONE))
    before = board(world)
    stats_before = sorted(aws.boards.org_stats("all"), key=lambda s: s.org_id)
    summary = call(world, "POST", ERASE, 200, as_="national_admin")
    erased_at = summary.pop("erased_at")
    assert erased_at.endswith("Z")
    assert summary == {"learner_id": "la1", "already_erased": False,
                       "removed": {"profile_fields": ["designation", "email", "employee_code", "group", "language",
                                                      "name", "phone"],
                                   "preferences": True, "events_rewritten": 1,
                                   "event_fields": ["designation", "email", "employee_code", "group", "language",
                                                    "name", "phone"]},
                       "kept": ["learner_id", "org_id", "events (learning facts only)", "points", "ledger", "badges",
                                "board_entries"]}
    stored = _everything_stored()
    assert [value for value in PERSONAL if value in stored] == []
    # points, ranks, totals and org figures unchanged; the row is anonymous for everyone, the learner included
    after = board(world)
    assert [(r["rank"], r["points"], r["org_id"]) for r in after["entries"]] == \
           [(r["rank"], r["points"], r["org_id"]) for r in before["entries"]]
    assert after["total"] == before["total"]
    assert sorted(aws.boards.org_stats("all"), key=lambda s: s.org_id) == stats_before
    for viewer in VIEWERS:
        assert (la1_row(board(world, viewer))["learner_id"], la1_row(board(world, viewer))["name"]) == \
               (None, "A Karmayogi from Org A1"), viewer
    me = call(world, "GET", "/v1/learners/{learner_id}", 200, as_="national_admin")
    assert (me["name"], me["org_id"], me["contact"], me["points"]) == (None, "org_a1", {"email": None, "phone": None}, 10)
    export = call(world, "GET", EXPORT, 200, as_="national_admin")
    assert export["erased_at"] == erased_at and export["preferences"] == {"language": "en",
                                                                         "leaderboard_visibility": "org", **DEFAULT_CHANNELS}
    assert export["profile"] == {"org_id": "org_a1", "name": None, "designation": None, "group": None,
                                 "email": None, "phone": None, "language": None, "employee_code": None}
    assert export["events"][0]["learner"] == {"id": "la1", "org_id": "org_a1", "name": None, "designation": None,
                                              "group": None, "email": None, "phone": None, "language": None,
                                              "employee_code": None}
    assert len(export["ledger"]) == 2  # the history is all there


def test_erasure_is_idempotent(world):
    first = call(world, "POST", ERASE, 200, as_="national_admin")
    again = call(world, "POST", ERASE, 200, as_="national_admin")
    assert again == {**first, "already_erased": True,
                     "removed": {"profile_fields": [], "preferences": False, "events_rewritten": 0, "event_fields": []}}
    call(world, "POST", ERASE, 404, learner_id="nobody", as_="national_admin")


def test_later_profile_events_do_not_bring_the_name_back(world, aws):
    call(world, "POST", ERASE, 200, as_="national_admin")
    results = send(world, aws, [profile(at="2024-11-01T09:00:00+05:30", event_id="p-la1-late"),
                                profile(event_id="p-la1-1")])  # a late one, and the first delivered again
    assert [r["status"] for r in results["results"]] == ["accepted", "duplicate"]
    stored = EventRecord.get("learner:la1", "p-la1-late", consistent_read=True).body
    assert stored["learner"] == {"id": "la1", "org_id": "org_a1", "name": None, "designation": None, "group": None,
                                 "email": None, "phone": None, "language": None, "employee_code": None}
    assert [value for value in PERSONAL if value in _everything_stored()] == []
    assert call(world, "GET", "/v1/learners/{learner_id}", 200, as_="national_admin")["name"] is None


def test_an_event_that_raced_the_erasure_is_scrubbed_when_it_is_scored(world, aws):
    """Ingestion checked 'not erased' just before the erasure, and stored the event just after it."""
    call(world, "POST", ERASE, 200, as_="national_admin")
    aws.events.add(parse_event(profile(at="2024-11-02T09:00:00+05:30", event_id="p-la1-raced")), ist(2024, 11, 2))
    aws.queue.send(["learner:la1"])
    pump(world, aws)
    assert [value for value in PERSONAL if value in _everything_stored()] == []
    assert LearnerRecord.get("la1", consistent_read=True).profile["name"] is None


def test_a_scoring_save_in_flight_cannot_bring_the_name_back(world, aws):
    """Scoring read the learner before the erasure and saves after it: the version bump makes it retry."""
    from chalicelib.scoring import pipeline as service
    real_get, erased = aws.learners.get, []

    def get_then_erase(learner_id):
        stored = real_get(learner_id)
        if not erased:  # once: the erasure's own read comes through here too
            erased.append(True)
            call(world, "POST", ERASE, 200, as_="national_admin")
        return stored
    aws.learners.get = get_then_erase
    try:
        send(world, aws, earn("la1", 5, ist(2024, 10, 28), "org_a1", tag="race"), pumped=False)
        service.recompute_stream("learner:la1", aws)
    finally:
        aws.learners.get = real_get
    record = LearnerRecord.get("la1", consistent_read=True)
    assert (record.points, record.profile["name"], record.erased_at is not None) == (15, None, True)
    assert [value for value in PERSONAL if value in _everything_stored()] == []


# --- the in-memory twin behaves the same ----------------------------------------------------------------

def test_the_in_memory_adapters_keep_preferences_and_erase_the_same_way():
    from chalicelib.identity.tokens import Principal
    from chalicelib.ingestion.webhook import accept_events
    from chalicelib.leaderboards.service import learner_board
    from chalicelib.learners.erasure import erase_learner
    from chalicelib.learners.preferences import put_preferences
    from tests.rules_builders import NOW, adapters, deliver
    from tests.test_leaderboards import add_orgs

    memory = adapters()
    add_orgs(memory, TREE)
    deliver(memory, [profile()] + earn("la1", 10, ist(2024, 10, 21), "org_a1", tag="m"))
    me, national = Principal("la1", "org_a1", frozenset({"learner"})), Principal("nat", None, frozenset({"national_admin"}))
    put_preferences("la1", me, memory, b'{"leaderboard_visibility": "public"}')
    deliver(memory, earn("la1", 5, ist(2024, 10, 28), "org_a1", tag="n"))
    assert memory.learners.get("la1").preferences == {"leaderboard_visibility": "public"}  # scoring kept it
    summary = erase_learner("la1", national, memory, NOW)
    assert summary["removed"]["events_rewritten"] == 1 and summary["removed"]["preferences"] is True
    accept_events([profile(at="2024-11-01T09:00:00+05:30", event_id="p-late")], memory, NOW)
    stored = [e for e in memory.events.stream("learner:la1") if e.type == "learner.upserted"]
    assert {(e.learner.name, e.learner.email) for e in stored} == {(None, None)}
    rows = learner_board({"scope": "national"}, memory, NOW, me)["entries"]
    assert [(r["learner_id"], r["name"], r["points"], r["rank"]) for r in rows] == [
        (None, "A Karmayogi from Org A1", 15, 1)]


def test_the_spec_lists_the_languages_and_visibilities_the_model_accepts():
    from chalicelib.learners.preferences import LANGUAGES, Preferences, effective
    from chalicelib.rules.privacy import DEFAULT_VISIBILITY, VISIBILITIES
    from tests.openapi_check import spec
    documented = spec()["components"]["schemas"]["Preferences"]["properties"]
    assert documented["language"]["enum"] == list(LANGUAGES)
    assert documented["leaderboard_visibility"]["enum"] == list(VISIBILITIES)
    assert documented["leaderboard_visibility"]["default"] == DEFAULT_VISIBILITY == Preferences().leaderboard_visibility
    # a stored document from a later version: unknown fields and values are ignored, one by one
    assert effective({"language": "ta", "leaderboard_visibility": "friends", "channels": ["sms"]}, "hi-IN") == \
        Preferences(language="ta")
    assert effective(None, "ta-IN") == Preferences(language="ta") and effective(None, "fr") == Preferences()
