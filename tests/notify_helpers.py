"""Shared helpers of the notification tests: learners with contact details, the notifications queue in moto,
a pump for it (and any other queue), and what moto's SES and SNS received."""
from __future__ import annotations

import email
import json
from datetime import datetime, timezone
from email import policy as email_policy
from zoneinfo import ZoneInfo

from chalicelib import bootstrap, settings
from chalicelib.rules.learner import LearnerStanding, Profile
from chalicelib.storage.ports import StoredLearner

IST = ZoneInfo("Asia/Kolkata")
ACCOUNT, REGION = "123456789012", "ap-south-1"
SENDER = "no-reply@karmayogi.example.gov.in"
LOCALES = ("en", "hi", "ta", "bn")


def ist(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST).astimezone(timezone.utc)


# A context each kind's templates render with (name and learner_id are added at delivery).
CONTEXTS = {
    "badge_awarded": {"badges": [{"id": "b1", "name": "First Steps", "description": "Completed a first course"},
                                 {"id": "b2", "name": "Rising Star", "description": "100 points"}],
                      "total_points": 125000},
    "campaign_starting": {"campaign": {"id": "c1", "name": "Karmayogi Saptah", "scope": "org:o1",
                                       "starts_at": "2026-12-01T03:30:00Z", "ends_at": "2026-12-08T18:29:59Z",
                                       "goal_minutes": 240}},
    "campaign_halfway": {"campaign": {"id": "c1", "name": "Karmayogi Saptah", "scope": "org:o1",
                                      "starts_at": "2026-12-01T03:30:00Z", "ends_at": "2026-12-08T18:29:59Z",
                                      "goal_minutes": 240},
                         "minutes_done": 90, "minutes_left": 150,
                         "suggested_course": {"title": "Data Literacy", "url": "https://igotkarmayogi.gov.in/c/1"}},
    "campaign_last_day": {"campaign": {"id": "c1", "name": "Karmayogi Saptah", "scope": "org:o1",
                                       "starts_at": "2026-12-01T03:30:00Z", "ends_at": "2026-12-08T18:29:59Z",
                                       "goal_minutes": 240}, "minutes_done": 200, "minutes_left": 40},
    "campaign_results": {"campaign": {"id": "c1", "name": "Karmayogi Saptah", "scope": "org:o1",
                                      "starts_at": "2026-12-01T03:30:00Z", "ends_at": "2026-12-08T18:29:59Z",
                                      "goal_minutes": 240}, "minutes_done": 300, "goal_met": True,
                         "award": "Saptah Champion", "rank": 3, "participants": 120000},
    "nudge_inactive": {"days_inactive": 14, "course": {"title": "Ethics in Governance",
                                                       "url": "https://igotkarmayogi.gov.in/c/2",
                                                       "due_on": "2026-12-31"}, "spell": None},
    "nudge_never_started": {"org_name": "Ministry of Mines", "course": None, "spell": None},
    "admin_weekly_summary": {"org_name": "Ministry of Mines", "employees": 125000, "active_learners": 45000,
                             "participation_pct": 0.36, "completions": 9800, "minutes_total": 540000,
                             "never_started": 12000, "week_start": "2026-11-16", "week_end": "2026-11-22"},
}


def add_learner(adapters, learner_id, *, email_address="learner@example.gov.in", phone=None, language="en",
                org="org_mines", last_active=None, preferences=None, name="Ananya Mehta"):
    """A learner as scoring would have stored it (memory or DynamoDB), with contact details."""
    standing = LearnerStanding(learner_id, Profile(org_id=org, name=name, email=email_address, phone=phone,
                                                   language=language), last_active_at=last_active)
    repo = adapters.learners
    if hasattr(repo, "learners"):  # the in-memory repository
        repo.learners[learner_id] = StoredLearner(standing, 1, (), preferences)
    else:
        repo.save(standing, [], [], 0)
        if preferences is not None:
            repo.set_preferences(learner_id, preferences)


def create_notification_infra(visibility_timeout: int = 0, max_receives: int = 5) -> str:
    """In moto: the notifications queue and its DLQ (redrive after max_receives), the verified sender."""
    clients = bootstrap._aws_clients()
    sqs = clients["sqs"]
    dlq = sqs.create_queue(QueueName=f"{settings.NOTIFICATIONS_QUEUE}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=settings.NOTIFICATIONS_QUEUE)["QueueUrl"]  # conftest's aws world made it
    sqs.set_queue_attributes(QueueUrl=url, Attributes={
        "VisibilityTimeout": str(visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})})
    clients["ses"].verify_email_identity(EmailAddress=SENDER)
    return url


def pump_notifications(client, rounds: int = 20) -> int:
    """Deliver queued notification messages to their handler as Lambda would. Returns messages handled."""
    return pump_queue(client, settings.NOTIFICATIONS_QUEUE, "deliver_notifications", rounds)


def pump_queue(client, queue: str, handler: str, rounds: int = 20) -> int:
    """Deliver a queue's messages to its SQS handler as Lambda would (receive count included); delete what it
    did not report failed. Returns messages handled."""
    sqs = bootstrap._aws_clients()["sqs"]
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    handled = 0
    for _ in range(rounds):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": m.get("Attributes", {}), "messageAttributes": {},
                              "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "awsRegion": REGION,
                              "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"}
                             for m in messages]}
        result = client.lambda_.invoke(handler, event).payload or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for n, m in enumerate(done)])
        handled += len(messages)
    return handled


def ses_sent() -> list:
    """(destinations, parsed MIME message) of everything moto's SES received."""
    from moto.ses.models import ses_backends
    return [(m.destinations, email.message_from_string(m.raw_data, policy=email_policy.default))
            for m in ses_backends[ACCOUNT][REGION].sent_messages]


def sms_sent() -> list:
    """(number, text) of every SMS moto's SNS received."""
    from moto.sns.models import sns_backends
    return list(sns_backends[ACCOUNT][REGION].sms_messages.values())


class PublishRecorder:
    """The parameters of every SNS Publish call as sent over the wire (moto keeps no message attributes for
    SMS): a botocore hook on the client the app uses."""

    def __init__(self):
        self.calls: list[dict] = []
        bootstrap._aws_clients()["sns"].meta.events.register("provide-client-params.sns.Publish", self._record)

    def _record(self, params, **_):
        self.calls.append(dict(params))

    def close(self):
        bootstrap._aws_clients()["sns"].meta.events.unregister("provide-client-params.sns.Publish", self._record)


def body_text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def body_html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
