"""The platform's doors over HTTP and Lambda, on moto: POST /v1/platform/events (signed like /v1/events), the
directory imports and the parked list (national admins), and the Kafka consumer fed the AWS event shape."""
import json

from tests.conftest import bearer, pump, signed_headers
from tests.platform_helpers import ARJUN, COURSE, MEERA, kafka_event, record


def post_records(client, topic, values, headers=None):
    body = json.dumps(values).encode()
    return client.http.post(f"/v1/platform/events?topic={topic}", body=body,
                            headers=headers if headers is not None else signed_headers(body))


def load_directories(client):
    for path, name in (("/v1/platform/courses", "courses"), ("/v1/platform/users", "users")):
        response = client.http.post(path, body=json.dumps(record(name)).encode(),
                                    headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.body


def test_signed_records_are_accepted_per_record_then_duplicates(client, aws):
    load_directories(client)
    response = post_records(client, "issue.certificate.request", [record("certificate"), {"eid": "BE_JOB_REQUEST"}])
    assert response.status_code == 202
    accepted, rejected = response.json_body["results"]
    assert accepted["status"] == "accepted" and rejected["status"] == "rejected"
    assert rejected["error"]["field"] == "edata"
    again = post_records(client, "issue.certificate.request", [record("certificate_reissue")])
    assert again.json_body["results"][0]["status"] == "duplicate"
    pump(client, aws)
    learner = client.http.get(f"/v1/learners/{MEERA}").json_body
    assert learner["courses_completed"] == 1 and learner["learning_minutes"] == 90


def test_unsigned_or_unknown_topic_is_refused(client):
    body = json.dumps([record("enrolment")]).encode()
    assert post_records(client, "user.enrolment.event", [record("enrolment")],
                        headers={"Content-Type": "application/json"}).status_code == 401
    response = client.http.post("/v1/platform/events?topic=no.such.topic", body=body, headers=signed_headers(body))
    assert response.status_code == 400 and response.json_body["error"]["field"] == "topic"
    response = client.http.post("/v1/platform/events", body=body, headers=signed_headers(body))
    assert response.status_code == 400 and response.json_body["error"]["field"] == "topic"


def test_directory_imports_and_the_parked_list_are_for_national_admins(client):
    learner = bearer(MEERA, roles=("learner",))
    for path in ("/v1/platform/courses", "/v1/platform/users"):
        response = client.http.post(path, body=b"[]", headers={**learner, "Content-Type": "application/json"})
        assert response.status_code == 403
    assert client.http.get("/v1/platform/parked", headers=learner).status_code == 403
    bad = client.http.post("/v1/platform/courses", body=json.dumps([{"identifier": "do_9", "duration": "an hour"}]),
                           headers={"Content-Type": "application/json"})
    assert bad.status_code == 200 and bad.json_body["results"][0]["error"]["field"] == "duration"


def test_parked_events_are_listed_then_released_when_the_user_arrives(client, aws):
    client.http.post("/v1/platform/courses", body=json.dumps(record("courses")).encode(),
                     headers={"Content-Type": "application/json"})
    response = post_records(client, "rating.event", [record("rating_add")])
    assert response.json_body["results"][0]["status"] == "parked"
    listed = client.http.get("/v1/platform/parked").json_body
    assert listed["count"] == 1 and listed["parked"][0]["waits_for"] == {"kind": "user", "key": MEERA}
    assert listed["parked"][0]["kind"] == "course.rated" and listed["parked"][0]["course_id"] == COURSE
    imported = client.http.post("/v1/platform/users", body=json.dumps(record("users")).encode(),
                                headers={"Content-Type": "application/json"}).json_body
    assert imported["released"] == 1
    assert client.http.get("/v1/platform/parked").json_body == {"parked": [], "count": 0, "next_cursor": None}
    pump(client, aws)
    assert client.http.get(f"/v1/learners/{MEERA}").json_body["points"] == aws.rules.points.course_rating


def test_the_kafka_consumer_reads_the_self_managed_kafka_event(client, aws):
    load_directories(client)
    event = kafka_event({"issue.certificate.request": [record("certificate")],
                         "user.claim.acbp.karma.points": [record("acbp_claim")],
                         "user.event.karma.points": [record("attendance_etc")]})
    outcome = client.lambda_.invoke("consume_platform_topics", event)
    assert outcome.payload == {"accepted": 3}
    pump(client, aws)
    arjun = client.http.get(f"/v1/learners/{ARJUN}").json_body
    assert arjun["courses_completed"] == 1 and arjun["points"] > 0


def test_make_import_courses_and_users_send_pages_and_print_what_became_of_them(client, tmp_path):
    import io
    from local import import_directory

    def send(kind, items):
        return client.http.post(f"/v1/platform/{kind}", body=json.dumps(items).encode(),
                                headers={"Content-Type": "application/json"}).json_body
    search = tmp_path / "search.json"  # the platform's content search answer, as saved
    search.write_text(json.dumps({"result": {"count": 3, "content": record("courses")}}))
    out = io.StringIO()
    assert import_directory.import_file("courses", search, send, out) == {"new": 3, "released": 0, "rescored": 0}
    users = tmp_path / "users.json"
    users.write_text(json.dumps(record("users") + [{"userId": "u-without-org"}]))
    totals = import_directory.import_file("users", users, send, out)
    assert totals["new"] == 2 and totals["rejected"] == 1
    assert "u-without-org  rejected  rootOrgId" in out.getvalue()
