"""Issue 15: a message that cannot be rendered (or any error after a delivery is claimed) finishes its record as
failed with the reason and is dead-lettered, instead of being re-queued by the sweeper for ever; and no record
stays `sending` past its lease twice."""
from datetime import timedelta

import pytest

from chalicelib import bootstrap, deadletters
from chalicelib.notifications import delivery, messages, outbox
from chalicelib.notifications.outbox import Intent, decide
from chalicelib.rosters.employees import MemoryRosterStore
from tests.notify_helpers import CONTEXTS, add_learner, ist

L1 = "learner-1"
NOW = ist(2026, 11, 25, 11)


@pytest.fixture
def world():
    adapters = bootstrap.memory_adapters(rosters=MemoryRosterStore())
    adapters.notifications.sleep = lambda _: None
    add_learner(adapters, L1)
    decide(Intent(L1, "badge_awarded", "w1", CONTEXTS["badge_awarded"]), adapters, NOW)
    [(lid, key)] = adapters.notifications.queue.drain()
    adapters.key = key
    return adapters


def broken_render(*args, **kwargs):
    "\ud800".encode("utf-8")  # what a lone surrogate in a campaign name did while rendering


def test_an_error_after_the_claim_finishes_the_record_failed_with_its_reason(world, monkeypatch):
    monkeypatch.setattr(messages, "render", broken_render)
    assert delivery.deliver(L1, world.key, world, NOW) == "dead"
    record = world.notifications.store.get(L1, world.key)
    assert record.status == "failed" and "UnicodeEncodeError" in record.reason
    for minutes in (6, 12, 60):  # the sweeper never queues it again
        assert outbox.sweep(world, NOW + timedelta(minutes=minutes)) == 0


def test_such_a_message_is_dead_lettered_on_its_first_receive(world, monkeypatch):
    monkeypatch.setattr(messages, "render", broken_render)
    reasons, final = {}, set()
    retry = delivery.deliver_batch([("m-1", L1, world.key, 1)], world, NOW, _Log(), reasons, final)
    assert retry == ["m-1"] and final == {"m-1"} and "UnicodeEncodeError" in reasons["m-1"]
    sqs = _Sqs()
    record = {"messageId": "m-1", "body": "{}", "attributes": {"ApproximateReceiveCount": "1"},
              "eventSourceARN": "arn:aws:sqs:ap-south-1:123456789012:karmayogi-test-notifications"}
    assert deadletters.settle([record], reasons, lambda: sqs, _Log(), 5, final) == []  # done: not retried
    assert [m["QueueUrl"] for m in sqs.sent] == ["karmayogi-test-notifications-dlq"]


def test_a_transient_failure_is_still_retried_not_dead_lettered_early(world):
    from chalicelib.notifications.sending import SendError
    world.notifications.email.failures = [SendError("Throttling", True)] * 3
    reasons, final = {}, set()
    assert delivery.deliver_batch([("m-1", L1, world.key, 1)], world, NOW, _Log(), reasons, final) == ["m-1"]
    assert final == set() and world.notifications.store.get(L1, world.key).status == "queued"


def test_no_record_stays_sending_past_its_lease_twice(world, monkeypatch):
    assert world.notifications.store.claim(L1, world.key, NOW, NOW + timedelta(minutes=5))  # the process died
    later = NOW + timedelta(minutes=6)
    assert outbox.sweep(world, later) == 1

    def dies(*args, **kwargs):
        raise SystemExit("the function timed out")  # not an Exception: nothing in-process settles it
    monkeypatch.setattr(messages, "render", dies)
    with pytest.raises(SystemExit):
        delivery.deliver(L1, world.key, world, later)  # took the expired lease over, then died too
    assert world.notifications.store.get(L1, world.key).status == "sending"
    monkeypatch.undo()
    again = later + timedelta(minutes=6)
    assert outbox.sweep(world, again) == 1
    assert delivery.deliver(L1, world.key, world, again) == "dead"
    record = world.notifications.store.get(L1, world.key)
    assert record.status == "failed" and "lease" in record.reason
    assert world.notifications.email.sent == []
    assert outbox.sweep(world, again + timedelta(minutes=30)) == 0


def test_a_lease_that_ran_out_once_is_taken_over_and_sent(world):
    assert world.notifications.store.claim(L1, world.key, NOW, NOW + timedelta(minutes=5))
    later = NOW + timedelta(minutes=6)
    assert delivery.deliver(L1, world.key, world, later) == "sent"
    assert len(world.notifications.email.sent) == 1


class _Log:
    def error(self, *a, **k):
        pass

    warning = info = error


class _Sqs:
    def __init__(self):
        self.sent = []

    def get_queue_url(self, QueueName):
        return {"QueueUrl": QueueName}

    def send_message(self, **kwargs):
        self.sent.append(kwargs)


def test_a_transient_storage_error_after_the_claim_is_released_for_a_retry(world, monkeypatch):
    from botocore.exceptions import ClientError
    from chalicelib.notifications import delivery as d

    def throttled(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")
    monkeypatch.setattr(d, "contact_of", throttled)
    assert delivery.deliver(L1, world.key, world, NOW) == "retry"
    assert world.notifications.store.get(L1, world.key).status == "queued"
    assert delivery.deliver(L1, world.key, world, NOW, final_attempt=True) == "dead"
    assert world.notifications.store.get(L1, world.key).status == "failed"


def test_any_other_error_after_the_claim_leaves_the_record_failed_and_sqs_retries_it(world, monkeypatch):
    from chalicelib.notifications import delivery as d

    def bug(*args, **kwargs):
        raise KeyError("a bug")
    monkeypatch.setattr(d, "contact_of", bug)
    reasons, final = {}, set()
    assert delivery.deliver_batch([("m-1", L1, world.key, 1)], world, NOW, _Log(), reasons, final) == ["m-1"]
    record = world.notifications.store.get(L1, world.key)
    assert record.status == "failed" and "KeyError" in record.reason and final == set()
    assert outbox.sweep(world, NOW + timedelta(minutes=30)) == 0
    assert delivery.deliver_batch([("m-1", L1, world.key, 5)], world, NOW, _Log(), reasons, final) == ["m-1"]
    assert final == {"m-1"}  # the last receive: dead-lettered with the reason
    monkeypatch.undo()
    assert delivery.deliver(L1, world.key, world, NOW) == "sent"  # replayed from the DLQ once fixed
