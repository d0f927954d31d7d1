"""POST/PUT /xapi/statements, PUT /xapi/courses and GET /xapi/about through chalice.test.Client, on moto
(DynamoDB statements table, events, the scoring queue): cmi5 and xAPI 1.0.3/2.0 statements become our events
exactly once, unknown learners and courses are parked, and scoring gives the learner their points."""
import json
from datetime import datetime, timezone

import pytest

from chalicelib.directory.store import CatalogueCourse, DirectoryUser
from chalicelib.platform.intake import completion_id
from chalicelib.xapi.statements import SPOKEN
from tests.conftest import pump
from tests.openapi_check import assert_matches_spec
from tests.xapi_samples import (AU, HOME, attended, basic, changed, cmi5_passed, cmi5_statement,
                                moodle_experienced, xapi20_completed)

CLIENT, SECRET = "moodle-lbsnaa", "s3cret-new"
AUTH = basic(CLIENT, SECRET)
V103 = {"X-Experience-API-Version": "1.0.3"}
SID = "2f6a1e3c-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
SID2 = "7b0e2d4c-1a3f-4c5e-8d9b-0a1b2c3d4e5f"
WEBINAR = "https://lms.lbsnaa.gov.in/webinar/17"


@pytest.fixture
def xapi(client, aws, monkeypatch):
    monkeypatch.setenv("KARMAYOGI_XAPI_CLIENTS", f"{CLIENT}:{SECRET},openedx-ap:other-secret")
    directory = aws.directory
    directory.users.put(DirectoryUser("u-1042", "org_bipard", root_org_id="state_bihar", name="Asha",
                                      email="asha@nic.in", accounts=((HOME, "lbsnaa-1042"),)))
    directory.courses.put(CatalogueCourse("xapi-moodle-lbsnaa-au1", "Ethics in governance", "Course", 120,
                                          ({"id": "cmp_ethics", "name": "Ethics", "area": "behavioural"},),
                                          client=CLIENT, activity_iri=AU))
    directory.courses.put(CatalogueCourse("xapi-moodle-lbsnaa-web17", "Budgeting webinar", "Event", 60, (),
                                          client=CLIENT, activity_iri=WEBINAR))
    return client


def post(client, body, auth=AUTH, headers=V103):
    return client.http.post("/xapi/statements", body=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json", **headers}, authorization=auth)


def events_of(aws, learner="u-1042"):
    return aws.events.stream(f"learner:{learner}")


def test_about_names_the_versions_spoken(xapi):
    answer = xapi.http.get("/xapi/about", authorization=None)
    assert answer.status_code == 200 and json.loads(answer.body) == {"version": sorted(SPOKEN.values())}
    assert_matches_spec("/xapi/about", "get", 200, json.loads(answer.body))


def test_a_cmi5_completion_is_stored_once_answered_with_its_id_and_scored(xapi, aws):
    answer = post(xapi, cmi5_statement("completed", SID))
    assert answer.status_code == 200, answer.body
    assert json.loads(answer.body) == [SID] and answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert_matches_spec("/xapi/statements", "post", 200, json.loads(answer.body))
    [event] = events_of(aws)
    assert (event.type, event.id, event.course.duration_minutes) == (
        "course.completed", completion_id("u-1042", "xapi-moodle-lbsnaa-au1"), 120)
    assert event.learner.org_id == "org_bipard"
    pump(xapi, aws)
    learner = aws.learners.get("u-1042").standing
    assert learner.points == aws.rules.points.course_completion and learner.learning_minutes == 120


def test_an_identical_re_post_is_accepted_and_changes_nothing(xapi, aws):
    post(xapi, cmi5_statement("completed", SID))
    again = post(xapi, cmi5_statement("completed", SID))
    assert again.status_code == 200 and json.loads(again.body) == [SID]
    assert len(events_of(aws)) == 1


def test_another_statement_under_a_known_id_is_409_and_nothing_of_its_batch_is_stored(xapi, aws):
    post(xapi, cmi5_statement("completed", SID))
    conflicting = cmi5_statement("completed", SID, learner="lbsnaa-2000")
    answer = post(xapi, [moodle_experienced(SID2, "asha@nic.in", 30), conflicting])
    assert answer.status_code == 409 and json.loads(answer.body)["error"]["field"] == "[1].id"
    assert_matches_spec("/xapi/statements", "post", 409, json.loads(answer.body))
    assert aws.xapi_statements.get(SID2) is None
    assert [e.type for e in events_of(aws)] == ["course.completed"]


def test_a_statement_without_id_gets_one(xapi, aws):
    answer = post(xapi, [cmi5_statement("completed", None)])
    [generated] = json.loads(answer.body)
    assert answer.status_code == 200 and aws.xapi_statements.get(generated).client == CLIENT


def test_passed_then_experienced_and_attended(xapi, aws):
    answer = post(xapi, [cmi5_passed(SID), moodle_experienced(SID2, "Asha@NIC.in", 45),
                         attended("0b6f3c9e-2d1a-4e7b-9c8d-7e6f5a4b3c2d", "lbsnaa-1042", WEBINAR)])
    assert answer.status_code == 200, answer.body
    by_type = {e.type: e for e in events_of(aws)}
    assert by_type["course.completed"].assessment.passed is True
    assert by_type["course.completed"].assessment.score_percent == 82.0
    assert by_type["learning.time_spent"].minutes == 45  # the learner found by mbox, whatever its case
    assert (by_type["event.attended"].event.id, by_type["event.attended"].event.duration_minutes) == (
        "xapi-moodle-lbsnaa-web17", 60)
    pump(xapi, aws)
    points = aws.rules.points
    assert aws.learners.get("u-1042").standing.points == (points.course_completion + points.assessment_passed
                                                 + points.event_attended)


def test_an_xapi_2_statement(xapi, aws):
    answer = post(xapi, xapi20_completed(SID, "lbsnaa-1042", AU), headers={"X-Experience-API-Version": "2.0.0"})
    assert answer.status_code == 200 and answer.headers["X-Experience-API-Version"] == "2.0.0"
    assert events_of(aws)[0].assessment.passed is True
    refused = post(xapi, xapi20_completed(SID2, "lbsnaa-1042", AU))
    assert refused.status_code == 400


def test_unknown_learner_and_unknown_course_are_parked(xapi, aws):
    answer = post(xapi, [cmi5_statement("completed", SID, learner="lbsnaa-9999"),
                         cmi5_statement("completed", SID2, au="https://lms.lbsnaa.gov.in/cmi5/unknown-au")])
    assert answer.status_code == 200
    assert events_of(aws) == []
    waits = sorted(p.waits_for for p in aws.directory.parked.page(10)[0])
    assert waits == [("course", "https://lms.lbsnaa.gov.in/cmi5/unknown-au"),
                     ("user", f"account:{HOME}|lbsnaa-9999")]
    assert aws.xapi_statements.get(SID) is not None  # the statement itself is kept


def test_a_verb_that_scores_nothing_is_stored_and_answered(xapi, aws):
    launched = changed(cmi5_statement("completed", SID), verb={"id": "http://adlnet.gov/expapi/verbs/launched"})
    answer = post(xapi, launched)
    assert answer.status_code == 200 and events_of(aws) == [] and aws.xapi_statements.get(SID) is not None


@pytest.mark.parametrize("auth, status", [(None, 401), (basic(CLIENT, "wrong"), 401), ("Bearer x", 401)])
def test_credentials_are_required(xapi, aws, auth, status):
    answer = post(xapi, cmi5_statement("completed", SID), auth=auth)
    assert answer.status_code == status and json.loads(answer.body)["error"]["code"] == "unauthorized"
    assert_matches_spec("/xapi/statements", "post", 401, json.loads(answer.body))
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert aws.xapi_statements.get(SID) is None


def test_the_version_header_is_required(xapi):
    answer = post(xapi, cmi5_statement("completed", SID), headers={})
    body = json.loads(answer.body)["error"]
    assert answer.status_code == 400 and body["field"] == "X-Experience-API-Version"


def test_an_invalid_statement_is_400_naming_the_field(xapi, aws):
    bad = cmi5_statement("completed", SID2)
    bad["result"]["duration"] = "about an hour"
    answer = post(xapi, [cmi5_statement("completed", SID), bad])
    error = json.loads(answer.body)["error"]
    assert (answer.status_code, error["field"]) == (400, "[1].result.duration")
    assert_matches_spec("/xapi/statements", "post", 400, json.loads(answer.body))
    assert aws.xapi_statements.get(SID) is None and events_of(aws) == []


def test_put_with_a_statement_id(xapi, aws):
    answer = xapi.http.put(f"/xapi/statements?statementId={SID}", body=json.dumps(
        cmi5_statement("completed", None)).encode(), headers={"Content-Type": "application/json", **V103},
        authorization=AUTH)
    assert answer.status_code == 204 and aws.xapi_statements.get(SID) is not None
    assert len(events_of(aws)) == 1
    missing = xapi.http.put("/xapi/statements", body=b"{}", headers={"Content-Type": "application/json", **V103},
                            authorization=AUTH)
    assert missing.status_code == 400 and json.loads(missing.body)["error"]["field"] == "statementId"


def test_a_statement_id_is_the_lrs_s_another_client_cannot_replay_one(xapi, aws):
    post(xapi, moodle_experienced(SID, "asha@nic.in", 30))
    other = post(xapi, moodle_experienced(SID, "asha@nic.in", 30), auth=basic("openedx-ap", "other-secret"))
    assert other.status_code == 200
    assert [e.minutes for e in events_of(aws)] == [30]


# --- the client's own courses, and what waited for the directory ----------------------------------------------------

NEW_AU = "https://lms.lbsnaa.gov.in/cmi5/courses/rti-act/au/1"


def register(client, body, auth=AUTH):
    return client.http.put("/xapi/courses", body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"}, authorization=auth)


def test_a_registered_course_releases_the_completions_parked_for_it(xapi, aws):
    post(xapi, cmi5_statement("completed", SID, au=NEW_AU))
    assert events_of(aws) == [] and aws.directory.parked.count() == 1
    answer = register(xapi, [{"activityId": NEW_AU, "name": "The RTI Act", "duration": "PT1H30M",
                              "competencies_v5": [{"competencyArea": "Functional", "competencyThemeId": "cmp_rti",
                                                   "competencyTheme": "Right to information"}]},
                             {"activityId": "not an iri"}])
    body = json.loads(answer.body)
    assert answer.status_code == 200, body
    assert [r["status"] for r in body["results"]] == ["new", "rejected"]
    assert body["results"][1]["error"]["field"] == "activityId" and body["released"] == 1
    assert_matches_spec("/xapi/courses", "put", 200, body)
    [event] = events_of(aws)
    assert (event.course.duration_minutes, event.course.competencies[0].area) == (90, "functional")
    assert aws.directory.parked.count() == 0
    course = aws.directory.courses.by_activity(CLIENT, NEW_AU)
    assert (course.client, course.name) == (CLIENT, "The RTI Act")
    assert aws.directory.courses.by_activity("openedx-ap", NEW_AU) is None  # a client's course is its own


def test_changing_a_registered_course_s_duration_re_scores_who_completed_it(xapi, aws):
    register(xapi, {"activityId": NEW_AU, "duration": 1800})
    post(xapi, cmi5_statement("completed", SID, au=NEW_AU))
    assert events_of(aws)[0].course.duration_minutes == 30
    answer = register(xapi, {"activityId": NEW_AU, "duration": "PT2H"})
    assert json.loads(answer.body)["rescored"] == 1
    assert events_of(aws)[0].course.duration_minutes == 120
    pump(xapi, aws)
    assert aws.learners.get("u-1042").standing.learning_minutes == 120


@pytest.mark.parametrize("item, field", [({"activityId": NEW_AU, "duration": "soon"}, "duration"),
                                         ({"activityId": NEW_AU, "client": "openedx-ap"}, "client"),
                                         ({"name": "no iri"}, "activityId")])
def test_a_bad_course_is_rejected_naming_the_field(xapi, aws, item, field):
    body = json.loads(register(xapi, [item]).body)
    assert body["results"][0]["status"] == "rejected" and body["results"][0]["error"]["field"] == field


def test_registering_needs_the_client_s_credentials(xapi):
    assert register(xapi, {"activityId": NEW_AU}, auth=None).status_code == 401


def test_a_learner_arriving_in_the_directory_releases_their_statements(xapi, aws):
    from chalicelib.directory.service import learn_user
    post(xapi, [cmi5_statement("completed", SID, learner="lbsnaa-2001"),
                moodle_experienced(SID2, "new.officer@nic.in", 25)])
    assert aws.directory.parked.count() == 2
    now = datetime.now(timezone.utc)
    learn_user(DirectoryUser("u-2001", "org_bipard", accounts=((HOME, "lbsnaa-2001"),)), aws, now)
    learn_user(DirectoryUser("u-2002", "org_bipard", email="New.Officer@nic.in"), aws, now)
    assert [e.type for e in events_of(aws, "u-2001")] == ["course.completed"]
    assert [e.minutes for e in events_of(aws, "u-2002")] == [25]
    assert aws.directory.parked.count() == 0


def test_the_statements_table_keeps_no_email_address_or_name(xapi, aws):
    statement = moodle_experienced(SID, "asha@nic.in", 30)
    statement["context"]["instructor"] = {"objectType": "Agent", "name": "R. Iyer", "mbox": "mailto:iyer@nic.in"}
    post(xapi, statement)
    stored = aws.xapi_statements.get(SID)
    text = json.dumps(stored.body)
    assert "asha@nic.in" not in text and "iyer@nic.in" not in text and "A learner" not in text and "Iyer" not in text
    import hashlib
    assert stored.body["actor"]["mbox_sha1sum"] == hashlib.sha1(b"mailto:asha@nic.in").hexdigest()
    assert stored.body["authority"]["account"]["name"] == CLIENT and stored.body["stored"]
    assert stored.body["object"]["definition"]["name"] == {"en": "Reading"}  # an activity's name is no person's
    assert [e.minutes for e in events_of(aws)] == [30]
    assert post(xapi, statement).status_code == 200  # the re-post is still identical


def test_a_json_content_type_with_a_charset_is_taken(xapi, aws):
    answer = xapi.http.post("/xapi/statements", body=json.dumps(cmi5_statement("completed", SID)).encode(),
                            headers={"Content-Type": "application/json; charset=UTF-8", **V103}, authorization=AUTH)
    assert answer.status_code == 200 and answer.headers["X-Experience-API-Version"] == "1.0.3"
    about = xapi.http.get("/xapi/about", authorization=None)
    assert about.headers["X-Experience-API-Version"] == "2.0.0"


def test_in_aws_the_clients_come_from_ssm_read_once_per_ttl_and_absent_means_none(aws):
    """KARMAYOGI_SECRETS_SOURCE=ssm: /karmayogi/<stage>/xapi-clients, cached for the TTL; a rotation needs no
    redeploy."""
    from dataclasses import replace as replaced
    from chalicelib import bootstrap, settings
    ssm, now = bootstrap._ssm_client(), [1000.0]
    config = replaced(settings.secrets_config(), source="ssm", ttl_seconds=60)
    clients = bootstrap.secret_adapters(config, clock=lambda: now[0])["xapi_clients"]
    assert clients() == []  # no parameter yet: no client, every request refused
    ssm.put_parameter(Name=config.xapi_clients_parameter, Value="lbsnaa-moodle:old", Type="SecureString")
    now[0] += 61  # an absent parameter is an answer (no client), kept for the TTL like any other
    assert clients() == [("lbsnaa-moodle", "old")]
    ssm.put_parameter(Name=config.xapi_clients_parameter, Value="lbsnaa-moodle:new,lbsnaa-moodle:old",
                      Type="SecureString", Overwrite=True)
    assert clients() == [("lbsnaa-moodle", "old")]  # within the TTL
    now[0] += 61
    assert clients() == [("lbsnaa-moodle", "new"), ("lbsnaa-moodle", "old")]


def test_a_pass_after_the_completion_adds_the_assessment_to_it_once(xapi, aws):
    post(xapi, cmi5_statement("completed", SID))
    pump(xapi, aws)
    points = aws.rules.points
    assert aws.learners.get("u-1042").standing.points == points.course_completion
    post(xapi, cmi5_passed(SID2, scaled=0.75))
    [event] = events_of(aws)
    assert (event.assessment.passed, event.assessment.score_percent) == (True, 75.0)
    pump(xapi, aws)
    assert aws.learners.get("u-1042").standing.points == points.course_completion + points.assessment_passed
    post(xapi, cmi5_statement("failed", "5d2f8a1b-3c4e-4f6a-8b9c-0d1e2f3a4b5c", success=False))
    post(xapi, cmi5_passed(SID2, scaled=0.75))  # a re-post
    [event] = [e for e in events_of(aws) if e.type == "course.completed"]
    assert event.assessment.passed is True


def test_a_race_lost_to_another_request_is_409_and_what_was_stored_before_it_is_scored(xapi, aws, monkeypatch):
    """Another request stores other content under the second id between this one's read and its put."""
    from chalicelib.xapi.store import StoredStatement
    store = aws.xapi_statements
    real_digests = store.digests

    def read_then_lose_the_race(ids):
        known = real_digests(ids)
        store.add(StoredStatement(SID2, CLIENT, "0" * 64, datetime.now(timezone.utc), {"id": SID2}))
        return known
    monkeypatch.setattr(store, "digests", read_then_lose_the_race)
    answer = post(xapi, [cmi5_statement("completed", SID), moodle_experienced(SID2, "asha@nic.in", 30)])
    assert answer.status_code == 409 and json.loads(answer.body)["error"]["field"] == "[1].id"
    assert [e.type for e in events_of(aws)] == ["course.completed"]  # the first was stored: it is scored

