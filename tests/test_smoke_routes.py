import json

from tests.conftest import fixture_event, pump, signed_headers


def test_a_signed_completion_is_scored_and_readable(client, aws):
    body = json.dumps(fixture_event("course.completed")).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body))
    assert response.status_code == 202, response.body
    assert response.json_body["results"][0]["status"] == "accepted"
    assert pump(client, aws) == 1
    learner = client.http.get("/v1/learners/5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b").json_body
    assert learner["points"] == 15  # completion 5 + assessment 5 + ACBP on time 5
    assert [b["id"] for b in learner["badges"]] == ["first_course"]
