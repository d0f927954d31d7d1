"""No email address or phone number in any log line, through a whole flow and its error paths.

Everything is captured: the powertools logger writes JSON to the process's stdout (capfd, at the file
descriptor, since its handler holds the stdout of import time), and every logger, at DEBUG, reaches the root
logger (caplog); the service's own logger is turned up to DEBUG too.
"""
import json
import logging

import pytest

from chalicelib.events import InvalidEvent, parse_event
from chalicelib.learners import export
from chalicelib.scoring import compute as scoring_compute
from chalicelib.logs import PAYLOAD_LOGGERS, logger, redact
from tests.conftest import bearer, pump, signed_headers

EMAIL, PHONE = "ananya.mehta@example.gov.in", "+919812345678"
SECRETS = [EMAIL, PHONE, "9812345678", "ananya.mehta", "98123 45678"]
SELF = bearer("u-logs", ["learner"], "org_logs")


def _post(client, events) -> dict:
    body = json.dumps(events).encode()
    response = client.http.post("/v1/events", body=body, headers=signed_headers(body), authorization=None)
    assert response.status_code == 202
    return response.json_body


def _learner(**fields) -> dict:
    return {"id": "u-logs", "org_id": "org_logs", "name": "Ananya Mehta", "email": EMAIL, "phone": PHONE, **fields}


@pytest.fixture
def everything_logged(capfd, caplog):
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield lambda: capfd.readouterr().out + capfd.readouterr().err + caplog.text + "".join(
        json.dumps(r.__dict__, default=str) for r in caplog.records)
    logger.setLevel(level)


def test_no_email_or_phone_in_any_log(client, aws, monkeypatch, everything_logged):
    results = _post(client, [
        {"id": "e-profile", "type": "learner.upserted", "occurred_at": "2024-10-01T09:00:00+05:30",
         "learner": _learner(language="hi")},
        {"id": "e-bad-language", "type": "learner.upserted", "occurred_at": "2024-10-01T09:00:00+05:30",
         "learner": _learner(language="HINDI")},  # rejected, with the email beside the bad field
        {"id": "e-bad-email", "type": "learner.upserted", "occurred_at": "2024-10-01T09:00:00+05:30",
         "learner": _learner(email=EMAIL.replace("@", "@@"), phone=PHONE + "x")},
        {"id": "e-course", "type": "course.completed", "occurred_at": "2024-10-02T09:00:00+05:30",
         "learner": {"id": "u-logs", "org_id": "org_logs"}, "course": {"id": "do_1", "duration_minutes": 60}},
    ])
    assert [r["status"] for r in results["results"]] == ["accepted", "rejected", "rejected", "accepted"]
    assert [r["error"]["field"] for r in results["results"] if r["error"]] == ["learner.language", "learner.email"]
    assert [secret for secret in SECRETS if secret in json.dumps(results)] == []  # errors never echo input
    pump(client, aws)

    assert client.http.get("/v1/learners/u-logs", headers=SELF).status_code == 200
    assert client.http.get("/v1/learners/u-logs/export", headers=SELF).json_body["profile"]["email"] == EMAIL
    assert client.http.put("/v1/learners/u-logs/preferences", headers={**SELF, "Content-Type": "application/json"},
                           body=json.dumps({"language": EMAIL}).encode()).status_code == 400
    assert client.http.get("/v1/leaderboards/learners?scope=national", headers=SELF).status_code == 200

    # scoring fails, with personal data in the exception: the error is logged, the data is not
    def failing(*args, **kwargs):
        raise RuntimeError(f"cannot score the learner {EMAIL} {PHONE}")
    monkeypatch.setattr(scoring_compute, "fold", failing)
    _post(client, [{"id": "e-course-2", "type": "course.completed", "occurred_at": "2024-10-03T09:00:00+05:30",
                    "learner": {"id": "u-logs", "org_id": "org_logs"}, "course": {"id": "do_2"}}])
    pump(client, aws)
    monkeypatch.undo()

    # a route fails the same way: the framework logs the exception, without the data
    def broken_export(*args, **kwargs):
        raise ValueError(f"export of {EMAIL} / {PHONE} failed")
    monkeypatch.setattr(export, "export_learner", broken_export)
    assert client.http.get("/v1/learners/u-logs/export", headers=SELF).status_code == 500

    logged = everything_logged()
    assert "recompute failed" in logged and "RuntimeError" in logged  # the error paths did log
    assert "ValueError" in logged and "Caught exception" in logged
    assert [secret for secret in SECRETS if secret in logged] == []


@pytest.mark.parametrize("field,value", [
    ("email", "ananya.mehta@@example.gov.in"), ("email", "ananya.mehta@example"), ("email", "a" * 250 + "@example.in"),
    ("email", 9812345678), ("phone", "+91 98123 45678 ext"), ("phone", "+919812345678" * 2), ("phone", 919812345678),
    ("name", "Ananya Mehta " * 30), ("name", ["Ananya Mehta"]), ("employee_code", {"code": "ananya.mehta"}),
])
def test_validation_messages_never_echo_what_was_sent(field, value):
    event = {"id": "e1", "type": "learner.upserted", "occurred_at": "2024-10-01T09:00:00+05:30",
             "learner": {"id": "u1", "org_id": "o1", field: value}}
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event)
    assert caught.value.field == f"learner.{field}"
    assert "ananya" not in str(caught.value).lower() and "98123" not in str(caught.value)


def test_the_redaction_masks_emails_and_phone_numbers_and_leaves_the_rest():
    assert redact("mail a.b-c@example.gov.in, call +91 98123 45678 or 9812345678 or +919812345678") == \
        "mail [email], call [phone] or [phone] or [phone]"
    kept = "learner:u-0001 event evt_2024-10-21_7f3a9c1e-cc01 course do_11394293170422579211 at 2024-10-21T10:15:00"
    assert redact(kept) == kept


def test_libraries_that_log_payloads_stay_quiet_at_debug():
    assert all(logging.getLogger(name).getEffectiveLevel() >= logging.INFO for name in PAYLOAD_LOGGERS)
