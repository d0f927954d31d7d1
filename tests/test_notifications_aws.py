"""Notifications end to end on moto: what SES and SNS actually received, for every kind and locale; bounces
through SNS into the suppression list; the unsubscribe link round trip; the dead-letter queue and its replay;
delivery records over the API; the local outbox page; digests and nudges from real scoring on DynamoDB."""
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from chalicelib import bootstrap, settings
from chalicelib.notifications import digest, messages, nudges, outbox
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.notifications.sms import segments
from chalicelib.ops.replay_dlq import replay
from tests.conftest import bearer, fixture_event, pump, signed_headers
from tests.notify_helpers import (CONTEXTS, LOCALES, PublishRecorder, add_learner, body_html, body_text,
                                  create_notification_infra, ist, pump_notifications, ses_sent, sms_sent)
from tests.openapi_check import assert_matches_spec

NOW = ist(2026, 11, 25, 11)  # a Wednesday, 11:00 IST: no quiet hours


@pytest.fixture
def world(aws, monkeypatch):
    # chalice.test.Client runs handlers with the "dev" stage's environment, where unsubscribe links need a real
    # secret (notifications/unsubscribe.py); in AWS it comes from the deployment.
    monkeypatch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "test-unsubscribe-secret")
    create_notification_infra()
    monkeypatch.setattr(settings, "SES_SENDER", "no-reply@karmayogi.example.gov.in")
    aws.notifications = bootstrap.aws_notifications()
    aws.notifications.email._sender = "no-reply@karmayogi.example.gov.in"
    aws.notifications.sleep = lambda _: None
    return aws


@pytest.fixture
def app(world):
    from tests.conftest import app_client
    with app_client() as c:
        yield c


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_kind_and_locale_reaches_ses_with_subject_bodies_and_unsubscribe_headers(world, app, kind, locale):
    add_learner(world, "l-1", email_address="ananya@example.gov.in", language=locale)
    assert decide(Intent("l-1", kind, "p1", CONTEXTS[kind]), world, NOW).status == "queued"
    assert pump_notifications(app) == 1
    [(destinations, mail)] = ses_sent()
    expected = messages.render(kind, locale, {**CONTEXTS[kind], "learner_id": "l-1", "name": "Ananya Mehta"},
                               base_url=settings.PUBLIC_BASE_URL)
    # (moto adds the To header's addresses to the envelope's: the same one, twice)
    assert set(destinations) == {"ananya@example.gov.in"} and mail["To"] == "ananya@example.gov.in"
    assert mail["Subject"] == expected.subject and "Ananya" in body_text(mail)
    assert _untokened(body_html(mail)) == _untokened(expected.html)  # tokens carry their second of issue
    assert mail["List-Unsubscribe"].startswith(f"<{settings.PUBLIC_BASE_URL}/v1/unsubscribe?token=")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [record] = world.notifications.store.page("l-1", 10, None)[0]
    assert (record.status, record.channel, record.locale) == ("sent", "email", expected.locale)
    assert record.provider_id


def _untokened(text: str) -> str:
    import re
    return re.sub(r"token=[^\"&\s<]+", "token=T", text).replace("\r\n", "\n").strip()


def _sms_capable():
    return [(kind, locale) for kind in sorted(CONTEXTS) for locale in LOCALES if messages.sms_allowed(kind, locale)]


@pytest.mark.parametrize("kind,locale", _sms_capable())
def test_every_sms_template_reaches_sns_with_the_dlt_attributes(world, app, kind, locale):
    category = messages.KINDS[kind]
    add_learner(world, "l-2", email_address=None, phone="+919812345678", language=locale,
                preferences={"notifications": {category: {"sms": True}}})
    recorder = PublishRecorder()
    try:
        assert decide(Intent("l-2", kind, "p1", CONTEXTS[kind]), world, NOW).channel == "sms"
        pump_notifications(app)
    finally:
        recorder.close()
    [(number, text)] = sms_sent()
    [call] = recorder.calls
    expected = messages.render(kind, locale, {**CONTEXTS[kind], "learner_id": "l-2", "name": "Ananya Mehta"})
    assert number == call["PhoneNumber"] == "+919812345678" and text == expected.sms
    attributes = {k: v["StringValue"] for k, v in call["MessageAttributes"].items()}
    assert attributes == {"AWS.SNS.SMS.SMSType": "Transactional", "AWS.MM.SMS.EntityId": messages.dlt_entity_id(),
                          "AWS.MM.SMS.TemplateId": expected.dlt_template_id,
                          "AWS.SNS.SMS.SenderID": messages.dlt_sender_id()}
    assert segments(text).count <= 2
    [record] = world.notifications.store.page("l-2", 10, None)[0]
    assert (record.status, record.dlt_template_id) == ("sent", expected.dlt_template_id)


def test_a_number_opted_out_in_sns_is_never_messaged(world, app):
    # moto's SNS reports numbers ending in 99 as opted out
    add_learner(world, "l-3", email_address=None, phone="+919812345699")
    assert decide(Intent("l-3", "nudge_inactive", "p", CONTEXTS["nudge_inactive"]), world, NOW).status == "unreachable"
    assert sms_sent() == []


def _bounce(address: str, bounce_type: str = "Permanent") -> str:
    import json
    return json.dumps({"notificationType": "Bounce", "mail": {"destination": [address]},
                       "bounce": {"bounceType": bounce_type, "bounceSubType": "General",
                                  "bouncedRecipients": [{"emailAddress": address}]}})


def test_a_bounce_puts_the_address_on_the_suppression_list_and_the_next_message_is_suppressed(world, app):
    add_learner(world, "l-4", email_address="gone@example.gov.in")
    decide(Intent("l-4", "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, NOW)
    decide(Intent("l-4", "admin_weekly_summary", "2026-W48", CONTEXTS["admin_weekly_summary"]), world, NOW)
    app.lambda_.invoke("ses_events", app.events.generate_sns_event(_bounce("Gone@Example.gov.in", "Transient")))
    assert world.notifications.suppressions.reason("email", "gone@example.gov.in") is None
    app.lambda_.invoke("ses_events", app.events.generate_sns_event(_bounce("Gone@Example.gov.in")))
    assert world.notifications.suppressions.reason("email", "gone@example.gov.in") == "bounce: General"
    pump_notifications(app)
    records = world.notifications.store.page("l-4", 10, None)[0]
    assert {(r.status, r.reason) for r in records} == {("suppressed", "address suppressed: bounce: General")}
    assert ses_sent() == []
    decision = decide(Intent("l-4", "badge_awarded", "w2", CONTEXTS["badge_awarded"]), world, NOW)
    assert decision.status == "unreachable" and "suppressed" in decision.reason


def test_a_complaint_suppresses_too(world, app):
    import json
    message = json.dumps({"eventType": "Complaint", "complaint": {
        "complainedRecipients": [{"emailAddress": "angry@example.gov.in"}], "complaintFeedbackType": "abuse"}})
    app.lambda_.invoke("ses_events", app.events.generate_sns_event(message))
    assert world.notifications.suppressions.reason("email", "angry@example.gov.in") == "complaint: abuse"


def test_the_unsubscribe_link_round_trip_turns_the_category_off(world, app):
    add_learner(world, "l-5", email_address="ananya@example.gov.in",
                preferences={"leaderboard_visibility": "hidden"})
    decide(Intent("l-5", "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, NOW)
    pump_notifications(app)
    [(_, mail)] = ses_sent()
    link = mail["List-Unsubscribe"].strip("<>")
    path = urlsplit(link).path + "?" + urlsplit(link).query
    page = app.http.get(path, authorization=None)
    assert page.status_code == 200 and b"<form method=\"post\"" in page.body
    assert app.http.get("/v1/learners/l-5/preferences").json_body["notifications"]["awards"]["email"] is True
    done = app.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"},
                         body=b"List-Unsubscribe=One-Click", authorization=None)
    assert done.status_code == 200, done.body
    assert_matches_spec("/v1/unsubscribe", "post", 200, done.json_body)
    prefs = app.http.get("/v1/learners/l-5/preferences").json_body
    assert prefs["notifications"]["awards"] == {"email": False, "sms": False}
    assert prefs["notifications"]["nudges"]["email"] is True and prefs["leaderboard_visibility"] == "hidden"
    assert decide(Intent("l-5", "badge_awarded", "w2", CONTEXTS["badge_awarded"]), world, NOW).status == "unreachable"
    bad = app.http.post("/v1/unsubscribe?token=forged.token", authorization=None)
    assert bad.status_code == 400 and bad.json_body["error"]["field"] == "token"


def test_after_the_last_try_the_message_waits_in_the_dlq_with_its_reason_and_replays_once_fixed(world, app):
    from moto.ses.models import ses_backends
    add_learner(world, "l-6", email_address="ananya@example.gov.in")
    world.notifications.email._sender = "unverified@elsewhere.example"  # SES rejects: MessageRejected
    decide(Intent("l-6", "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, NOW)
    pump_notifications(app, rounds=10)
    sqs = bootstrap._aws_clients()["sqs"]
    dlq = sqs.get_queue_url(QueueName=f"{settings.NOTIFICATIONS_QUEUE}-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1"
    [record] = world.notifications.store.page("l-6", 10, None)[0]
    assert (record.status, record.reason) == ("failed", "rejected: MessageRejected")
    assert len(ses_backends["123456789012"]["ap-south-1"].sent_messages) == 0
    # chalicelib/deadletters.py put it there with the reason (SQS's own redrive would carry none).
    dry = replay(sqs, settings.NOTIFICATIONS_QUEUE, dry_run=True)
    assert dry["reasons"] == {"rejected: MessageRejected": 1} and dry["moved"] == 0
    world.notifications.email._sender = "no-reply@karmayogi.example.gov.in"  # the fix
    assert replay(sqs, settings.NOTIFICATIONS_QUEUE)["moved"] == 1
    pump_notifications(app)
    [record] = world.notifications.store.page("l-6", 10, None)[0]
    assert record.status == "sent" and record.reason is None
    assert len(ses_sent()) == 1


def test_delivery_records_over_the_api_paginated_for_the_learner_and_their_admin_only(world, app):
    add_learner(world, "l-7", org="org_mines")
    for n in range(5):
        decide(Intent("l-7", "badge_awarded", f"w{n}", CONTEXTS["badge_awarded"]), world, NOW + timedelta(minutes=n))
    pump_notifications(app)
    own = {"Authorization": bearer("l-7", ("learner",), "org_mines")["Authorization"]}
    first = app.http.get("/v1/learners/l-7/notifications?limit=2", headers=own)
    assert first.status_code == 200
    assert_matches_spec("/v1/learners/{learner_id}/notifications", "get", 200, first.json_body)
    assert [r["id"] for r in first.json_body["notifications"]] == ["badge_awarded#w4", "badge_awarded#w3"]
    seen = [r["id"] for r in first.json_body["notifications"]]
    cursor = first.json_body["next_cursor"]
    while cursor:
        page = app.http.get(f"/v1/learners/l-7/notifications?limit=2&cursor={cursor}", headers=own).json_body
        seen += [r["id"] for r in page["notifications"]]
        cursor = page["next_cursor"]
    assert seen == [f"badge_awarded#w{n}" for n in range(4, -1, -1)]
    record = first.json_body["notifications"][0]
    assert record["status"] == "sent" and record["provider_message_id"] and "@" not in str(record)
    admin = bearer("admin-x", ("mdo_admin",), "org_mines")
    assert app.http.get("/v1/learners/l-7/notifications", headers=admin).status_code == 200
    other = bearer("l-8", ("learner",), "org_mines")
    assert app.http.get("/v1/learners/l-7/notifications", headers=other).status_code == 403
    bad = app.http.get("/v1/learners/l-7/notifications?cursor=nonsense", headers=own)
    assert bad.status_code == 400 and bad.json_body["error"]["field"] == "cursor"


def test_the_dev_outbox_page_exists_only_locally_and_shows_emails_and_sms(dev_routes, world, app, monkeypatch):
    assert app.http.get("/dev/outbox", authorization=None).status_code == 404
    add_learner(world, "l-9", language="hi")
    add_learner(world, "l-10", email_address=None, phone="+919812345678", language="ta")
    now = ist(2026, 11, 26, 11)
    decide(Intent("l-9", "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, now)
    decide(Intent("l-10", "nudge_inactive", "r1", CONTEXTS["nudge_inactive"]), world, now)
    monkeypatch.setattr(settings, "STAGE", "local")
    monkeypatch.setattr(dev_routes, "_now", lambda: now + timedelta(minutes=5))
    page = app.http.get("/dev/outbox", authorization=None)
    assert page.status_code == 200
    text = page.body.decode()
    assert "2 message(s)" in text and "<iframe" in text and "srcdoc=" in text
    sms = messages.render("nudge_inactive", "ta", {**CONTEXTS["nudge_inactive"], "learner_id": "l-10",
                                                   "name": "Ananya Mehta"})
    if sms.sms:
        assert f"{sms.sms_segments.count} segment(s)" in text and sms.dlt_template_id in text


# --- from real scoring, on DynamoDB (moto) ------------------------------------------------------------------------

def test_a_badge_awarded_by_scoring_becomes_a_digest_through_the_pending_index(world, app, monkeypatch):
    from datetime import datetime, timezone
    for name in ("learner.upserted", "course.completed"):  # a profile with an email, then a first badge
        body = __import__("json").dumps(fixture_event(name)).encode()
        assert app.http.post("/v1/events", body=body, headers=signed_headers(body)).status_code == 202
    pump(app, world)
    facts = world.facts.pending("badge.awarded", datetime.now(timezone.utc) + timedelta(seconds=1), 10)
    assert facts, "scoring recorded no pending badge.awarded fact"
    learner_id = facts[0][0].learner_id
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert digest.send_badge_digests(world, later) == 1
    assert world.facts.pending("badge.awarded", later, 10) == []  # consumed: off the index
    [record] = world.notifications.store.page(learner_id, 10, None)[0]
    assert record.kind == "badge_awarded" and len(record.context["badges"]) == len(facts)


def test_scoring_puts_the_learner_on_the_nudge_schedule_and_the_nightly_run_finds_them(world, app):
    event = fixture_event("course.completed")
    body = __import__("json").dumps(event).encode()
    app.http.post("/v1/events", body=body, headers=signed_headers(body))
    pump(app, world)
    learner_id = event["learner"]["id"]
    entry = world.notifications.schedule.get(learner_id)
    assert entry is not None and entry.rung == 1 and entry.spell.startswith("a:")
    from datetime import date, datetime, time
    from zoneinfo import ZoneInfo
    due = date.fromisoformat(entry.due)
    morning = datetime.combine(due, time(9, 5), ZoneInfo("Asia/Kolkata"))
    assert nudges.run_nightly(world, morning - timedelta(days=1)) == {}
    outcomes = nudges.run_nightly(world, morning)
    assert sum(outcomes.values()) == 1
    assert world.notifications.schedule.get(learner_id).rung == 2
    assert nudges.run_nightly(world, morning) == {}  # a second run finds no one


def test_the_sweeper_requeues_a_record_whose_queue_message_was_lost_on_dynamodb(world, app):
    add_learner(world, "l-11")
    world.notifications.queue.send = lambda items, delay_seconds=0: None  # the message is lost
    decide(Intent("l-11", "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, NOW)
    world.notifications = bootstrap.aws_notifications()
    world.notifications.email._sender = "no-reply@karmayogi.example.gov.in"
    assert outbox.sweep(world, NOW + timedelta(minutes=1)) == 0
    assert outbox.sweep(world, NOW + timedelta(minutes=6)) == 1
    pump_notifications(app)
    assert world.notifications.store.get("l-11", "badge_awarded#w1").status == "sent"
    assert outbox.sweep(world, NOW + timedelta(minutes=60)) == 0


def test_the_dynamodb_claim_is_conditional_on_the_state_and_the_lease(world):
    from chalicelib.notifications.limits import address_hash
    add_learner(world, "l-12")
    store = world.notifications.store
    decide(Intent("l-12", "badge_awarded", "w1", CONTEXTS["badge_awarded"]), world, NOW)
    lease = NOW + timedelta(minutes=5)
    assert store.claim("l-12", "badge_awarded#w1", NOW, lease).status == "sending"
    assert store.claim("l-12", "badge_awarded#w1", NOW + timedelta(minutes=1), lease) is None  # held
    assert store.claim("l-12", "badge_awarded#w1", NOW + timedelta(minutes=6), NOW + timedelta(minutes=11))
    store.finish("l-12", "badge_awarded#w1", "failed", NOW, reason="rejected: MessageRejected")
    assert store.due(0, NOW + timedelta(days=1), 10) + store.due(1, NOW + timedelta(days=1), 10) \
        + store.due(2, NOW + timedelta(days=1), 10) + store.due(3, NOW + timedelta(days=1), 10) == []
    again = store.claim("l-12", "badge_awarded#w1", NOW, lease)  # a replay from the DLQ
    assert again is not None and again.status == "sending"
    store.finish("l-12", "badge_awarded#w1", "sent", NOW, provider_id="p-1")
    assert store.claim("l-12", "badge_awarded#w1", NOW + timedelta(days=1), lease) is None
    assert len(address_hash("email", "A@B.in")) == 64 and address_hash("email", "A@B.in") == \
        address_hash("email", "a@b.in ")


def test_the_sms_budget_counter_never_passes_its_limit_on_dynamodb(world):
    counters = world.notifications.counters
    assert [counters.take("sms#org#c1", 2) for _ in range(4)] == [True, True, False, False]
    assert counters.take("sms#org#c2", 2)
