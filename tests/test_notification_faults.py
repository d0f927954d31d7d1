"""Faults on the sending side, through the real code paths on moto: SES and SNS throttling, and a crash at every
AWS request of sending a message (decide: the outbox reads and conditional put, then the queue message; deliver:
the claim, the contact and suppression reads, the provider call, marking it sent), each before the request (it
never happened) or after it (it happened, and the error came back instead of the answer).

Recovery is what production does: the caller decides again (digests and nudges re-run: a second decision is a
duplicate), SQS redelivers what the consumer reported failed (visibility 0 here: at once), and the sweeper
re-queues records still pending once their due time has passed (the clock is moved on). After that, every delivery
record equals the fault-free run's and moto's SES and SNS received each message exactly once.

One window is left out on purpose: the provider took the message and its answer was lost (an error "after" the
SendRawEmail / Publish request itself). Neither SES nor SNS takes an idempotency key, so the consumer cannot tell
that from a refusal and sends again; README "Notifications" says so.
"""
from contextlib import contextmanager
from datetime import timedelta

import botocore.client
import pytest
from botocore.exceptions import ClientError

from chalicelib import bootstrap, settings
from chalicelib.notifications import outbox
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.notifications.models import NotificationRecord
from tests.conftest import app_client, aws_world
from tests.fault_injection import Injector
from tests.notify_helpers import CONTEXTS, SENDER, add_learner, create_notification_infra, ist, pump_notifications, \
    ses_sent, sms_sent

NOW = ist(2026, 11, 25, 11)  # a Wednesday, 11:00 IST: inside sending hours
PROVIDER_CALLS = {"SendRawEmail", "Publish"}
INTENTS = [Intent("l-mail", "badge_awarded", "w1", CONTEXTS["badge_awarded"]),
           Intent("l-phone", "nudge_inactive", "rung3:a:2026-11-01", CONTEXTS["nudge_inactive"], prefer_sms=True)]
STABLE = ("learner_id", "dedupe_key", "kind", "category", "channel", "locale", "status", "reason", "org_id",
          "dlt_template_id", "pending_shard", "created_at", "not_before")


def throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


@pytest.fixture
def injector(monkeypatch):
    injector = Injector(only_inside=True)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", injector.wrapper)
    return injector


@contextmanager
def sending_world(injector):
    with pytest.MonkeyPatch.context() as patch, aws_world() as adapters, app_client() as client:
        import app as application
        patch.setenv("KARMAYOGI_UNSUBSCRIBE_SECRET", "test-unsubscribe-secret")
        patch.setattr(settings, "SES_SENDER", SENDER)
        create_notification_infra()
        adapters.notifications = bootstrap.aws_notifications()
        adapters.notifications.sleep = lambda _: None
        add_learner(adapters, "l-mail", email_address="ananya@example.gov.in")
        add_learner(adapters, "l-phone", email_address=None, phone="+919812345678")
        clock = {"now": NOW}
        patch.setattr(application, "_now", lambda: clock["now"])
        original_invoke = client.lambda_.invoke

        def invoke(*args, **kwargs):  # the consumer's requests count; the pump's (Lambda's poller) do not
            with injector.counting():
                return original_invoke(*args, **kwargs)
        patch.setattr(client.lambda_, "invoke", invoke)
        yield client, adapters, clock


def send_all(client, adapters, injector) -> None:
    """Decide each message (a crash there is the caller's: it decides again on its next run), then deliver."""
    for intent in INTENTS:
        try:
            with injector.counting():
                decide(intent, adapters, NOW)
        except Exception:  # noqa: BLE001 (an injected crash)
            pass
    pump_notifications(client)


def recover(client, adapters, clock) -> None:
    """What production does next: the callers decide again, redelivery, and the sweeper once records are due."""
    for round_ in range(1, 6):
        for intent in INTENTS:
            decide(intent, adapters, NOW)
        pump_notifications(client)
        clock["now"] = NOW + timedelta(minutes=10 * round_)  # past the lease and the requeue delay
        outbox.sweep(adapters, clock["now"])
        pump_notifications(client)


def records() -> list[dict]:
    return sorted(({k: r.attribute_values.get(k) for k in STABLE} | {"sent": bool(r.attribute_values.get("provider_id"))}
                   for r in NotificationRecord.scan()), key=lambda r: r["learner_id"])


def run(injector, plan=None) -> tuple[list[dict], int, int]:
    """One scenario: the records, and how many emails and SMS the providers received."""
    with sending_world(injector) as (client, adapters, clock):
        injector.calls, injector.plan, injector.active = 0, plan, True
        try:
            send_all(client, adapters, injector)
        finally:
            injector.active = False
        recover(client, adapters, clock)
        return records(), len(ses_sent()), len(sms_sent())


@pytest.fixture(scope="module")
def baseline():
    injector = Injector(only_inside=True)
    original = botocore.client.BaseClient._make_api_call
    botocore.client.BaseClient._make_api_call = injector.wrapper
    try:
        found = run(injector)
    finally:
        botocore.client.BaseClient._make_api_call = original
    return found, injector.calls, list(injector.operations)


def test_the_baseline_sends_one_email_and_one_sms(baseline):
    (rows, emails, texts), calls, operations = baseline
    assert (emails, texts) == (1, 1)
    assert [(r["learner_id"], r["channel"], r["status"], r["sent"]) for r in rows] == \
        [("l-mail", "email", "sent", True), ("l-phone", "sms", "sent", True)]
    assert PROVIDER_CALLS <= set(operations) and calls > 15  # the crash test walks every one of these


@pytest.mark.parametrize("operation", ["SendRawEmail", "Publish"])
def test_provider_throttling_is_retried_to_the_same_records_sending_once(baseline, injector, operation):
    """The first five calls are throttled: three tries in process, then the record goes back to queued with the
    reason and SQS redelivers; the message goes out once."""
    expected = baseline[0]
    refused = {"count": 0}

    def plan(n, op, kwargs):
        if op == operation and refused["count"] < 5:
            refused["count"] += 1
            return "before", throttled(op)
        return None, None
    assert run(injector, plan) == expected
    assert refused["count"] == 5


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_at_every_request_of_sending_leaves_the_same_records_and_sends_once(baseline, injector, when):
    expected, calls, operations = baseline
    checked = 0
    for k in range(1, calls + 1):
        if when == "after" and operations[k - 1] in PROVIDER_CALLS:
            continue  # the provider took it and the answer was lost: see the module docstring
        injector.fired.clear()

        def plan(n, operation, kwargs, k=k):
            return (when, RuntimeError(f"injected crash at request {k}")) if n == k else (None, None)
        found = run(injector, plan)
        assert [n for n, _ in injector.fired] == [k], (k, injector.fired)
        assert found == expected, f"a crash {when} request {k} ({operations[k - 1]}) left {found}"
        checked += 1
    assert checked >= calls - 2
