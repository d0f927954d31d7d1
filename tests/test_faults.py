"""Faults injected through the real code paths of event processing, on moto.

Every DynamoDB request (PynamoDB and boto3 alike) goes through botocore's BaseClient._make_api_call; the
injector wraps it and, by plan, raises on the Nth request of the scoring run: before the request (it never
happened) or after it (it happened, and the process died before seeing the answer), or raises what DynamoDB
itself answers under load (ProvisionedThroughputExceededException, ThrottlingException) or on a lost race
(TransactionCanceledException with ConditionalCheckFailed / TransactionConflict). The queue is drained as
Lambda's poller does it (local/pump.py: batchItemFailures are retried, the rest deleted; the queue's visibility
timeout is 0 so a retry comes at once). After the retries, every derived table must equal, item for item, what
a fault-free run of the same events produced: nothing lost, nothing counted twice.
"""
import dataclasses
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import botocore.client
import pytest
from botocore.exceptions import ClientError

from chalicelib import bootstrap, deadletters, facts, settings
from chalicelib.storage.models import DomainEventRecord, LearnerRecord, LedgerRecord, OrgRecord
from chalicelib.leaderboards.models import BoardEntryRecord, BoardSummaryRecord, OrgStatsRecord
from chalicelib.review.models import ReviewRecord
from local.pump import Pump
from tests.fault_injection import Injector
from tests.conftest import app_client, aws_world, fixture_event, signed_headers

DERIVED = (LearnerRecord, LedgerRecord, DomainEventRecord, OrgRecord, BoardEntryRecord, BoardSummaryRecord,
           OrgStatsRecord, ReviewRecord)
# Wall-clock times of the writes themselves, and the learner's version (a count of saves: a learner scored before
# their org arrived is saved once more when it does, with the same outcome).
# A board summary's top_at (when its top was read) and q<n> (stream sequence numbers) are times too.
VOLATILE = {"updated_at", "recorded_at", "created_at", "held_at", "version", "top_at"}
LEARNER, OTHER = "5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b", "7a2b3c4d-1111-4b7a-9a6e-1c2d3e4f5a6b"


def scenario() -> list[dict]:
    """Two learners in a small org tree, completions (one late), time spent, a rating: boards, org stats,
    a badge and a clap all move."""
    org, parent = fixture_event("org.upserted"), fixture_event("org.upserted")
    parent.update(id="evt_org_parent")
    parent["org"] = {**parent["org"], "id": "org_mines", "name": "Ministry of Mines", "type": "ministry",
                     "parent_id": None}
    org.update(id="evt_org_child")
    org["org"] = {**org["org"], "id": "org_mines_hq", "parent_id": "org_mines"}
    events = [parent, org]
    for n, learner in enumerate((LEARNER, OTHER)):
        profile = fixture_event("learner.upserted")
        profile.update(id=f"evt_profile_{n}")
        profile["learner"] = {**profile["learner"], "id": learner, "org_id": "org_mines_hq"}
        events.append(profile)
    for n, (learner, day) in enumerate([(LEARNER, "2024-10-21"), (OTHER, "2024-10-22"), (LEARNER, "2024-10-14")]):
        done = fixture_event("course.completed")
        done.update(id=f"evt_done_{n}", occurred_at=f"{day}T10:15:00+05:30")
        done["learner"] = {"id": learner, "org_id": "org_mines_hq"}
        done["course"] = {**done["course"], "id": f"do_course_{n}"}
        events.append(done)
    spent = fixture_event("learning.time_spent")
    spent["learner"] = {**spent["learner"], "id": LEARNER, "org_id": "org_mines_hq"}
    rated = fixture_event("course.rated")
    rated["learner"] = {**rated["learner"], "id": OTHER, "org_id": "org_mines_hq"}
    return events + [spent, rated]


def client_error(code: str, operation: str, kwargs: dict, reasons: list[str] | None = None) -> ClientError:
    response = {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    if reasons is not None:
        items = len(kwargs.get("TransactItems", [])) or 1
        response["CancellationReasons"] = [{"Code": reasons[i % len(reasons)]} for i in range(items)]
    return ClientError(response, operation)


@pytest.fixture
def injector(monkeypatch):
    injector = Injector(counted=lambda client: client.meta.service_model.service_name == "dynamodb")
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", injector.wrapper)
    return injector


@contextmanager
def world(max_receives: int = 5):
    """moto with every table, the scoring queue (visibility 0, so a failed message is retried at once) and its
    dead-letter queue; the app; a pump as Lambda's poller."""
    with aws_world() as adapters, app_client() as client:
        sqs = bootstrap._aws_clients()["sqs"]
        dlq = sqs.create_queue(QueueName=f"{settings.SCORING_QUEUE}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=adapters.queue.url, Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})})
        # An org move's re-score job (chalicelib/rescore.py) runs on the audit queue: a failed segment comes back at
        # once too, and resumes from its stored position.
        audit = sqs.get_queue_url(QueueName=settings.AUDIT_QUEUE)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=audit, Attributes={"VisibilityTimeout": "0"})
        # When an org arrives after its learners were scored (its message failed and came back), the learners
        # below it are re-scored by a job delayed past the org-tree cache (65 s). Time is compressed
        # here: no cache, no delay, so the drain below sees those messages at once.
        adapters.boards.config = dataclasses.replace(adapters.boards.config, org_tree_cache_seconds=-5)
        import app as application
        was, deadletters.MAX_RECEIVES = deadletters.MAX_RECEIVES, max_receives  # the consumer's view of it
        try:
            yield client, adapters, sqs, dlq, Pump(application.app, sqs, settings.REGION, schedules={})
        finally:
            deadletters.MAX_RECEIVES = was


def post(client, events: list[dict]) -> None:
    body = json.dumps(events).encode()
    response = client.http.post("/v1/events", headers=signed_headers(body), body=body)
    assert response.status_code == 202, response.body
    assert all(r["status"] == "accepted" for r in json.loads(response.body)["results"])


def drain(pump: Pump, rounds: int = 50) -> None:
    """Each queue in turn until every one is empty. One queue at a time, not all at once as pump.drain does: the
    scoring queue and the audit queue (an org move's re-score job) would interleave their requests differently
    from run to run, and the crash tests need the kth request to be the same one every run. (In AWS the job is
    delayed past the org-tree cache anyway, well after the scoring that started it.)"""
    for _ in range(rounds):
        received = 0
        for sub in pump.subscriptions:
            for _ in range(rounds):
                got, _ = pump.poll(sub, wait_seconds=0)
                received += got
                if not got:
                    break
        if not received:
            return
    raise AssertionError("the queue did not empty")


def snapshot() -> dict:
    """Every derived table, item by item (raw attributes, so a summary's histogram counts too; a histogram
    count at zero is no learner, and a sequence guard q<n> is a position in the stream)."""
    from boto3.dynamodb.types import TypeDeserializer
    bootstrap.adapters().boards.poller.drain()
    client, load = BoardSummaryRecord._get_connection().connection.client, TypeDeserializer().deserialize

    def volatile(name, value):
        return name in VOLATILE or (name[:1] == "q" and name[1:].isdigit()) or (
            name[:1] == "s" and name[1:].isdigit() and value == 0)

    def items(model):
        pages = client.get_paginator("scan").paginate(TableName=model.Meta.table_name)
        # An entry's parents only carry its org's ancestors to the org's statistics (compared there).
        carried = {"parents"} if model is BoardEntryRecord else set()
        return [{k: v for k, v in sorted((k, load(v)) for k, v in item.items()) if not volatile(k, v)
                 and k not in carried} for page in pages for item in page["Items"]]
    return {model.Meta.table_name: sorted(items(model), key=repr) for model in DERIVED}


def run(events: list[dict], injector: Injector | None = None, plan=None, max_receives: int = 5) -> tuple[dict, int]:
    """Ingest (no faults), then score with the plan active. Returns the derived tables and the requests made."""
    with world(max_receives) as (client, adapters, sqs, dlq, pump):
        post(client, events)
        if injector:
            injector.calls, injector.plan, injector.active = 0, plan, True
        try:
            drain(pump)
        finally:
            if injector:
                injector.active = False
        # Then a later minute's dispatch, as in AWS: a reaction a crash interrupted (an org move's re-scoring) is
        # still pending, and runs now. One digest window on, so that the run's badge digests are due in every run:
        # dispatched at once, a run that straddled the window's end (each hour at :30 UTC) consumed them where the
        # baseline had left them pending, and failed with "different tables" for want of a fault.
        window = timedelta(minutes=adapters.notifications.settings().digest_window_minutes)
        facts.dispatch(adapters, datetime.now(timezone.utc) + window)
        drain(pump)
        dead = int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"])
        assert dead == 0, "a message reached the dead-letter queue"
        return snapshot(), (injector.calls if injector else 0)


@pytest.fixture(scope="module")
def baseline():
    """A fault-free run: the derived tables every faulty run must end with."""
    injector = Injector(counted=lambda client: client.meta.service_model.service_name == "dynamodb")
    original = botocore.client.BaseClient._make_api_call
    botocore.client.BaseClient._make_api_call = injector.wrapper
    try:
        tables, calls = run(scenario(), injector, plan=None)
    finally:
        botocore.client.BaseClient._make_api_call = original
    assert tables[LearnerRecord.Meta.table_name] and tables[BoardSummaryRecord.Meta.table_name]
    assert tables[OrgStatsRecord.Meta.table_name] and tables[DomainEventRecord.Meta.table_name]
    return tables, calls


def crash_at(k: int, when: str):
    def plan(n, operation, kwargs):
        return (when, RuntimeError(f"injected crash at request {k}")) if n == k else (None, None)
    return plan


def test_the_baseline_scores_everything(baseline):
    tables, calls = baseline
    learners = {r["learner_id"]: r for r in tables[LearnerRecord.Meta.table_name]}
    assert learners[LEARNER]["points"] > 0 and learners[OTHER]["points"] > 0
    assert calls > 20  # the crash tests below walk every one of these requests


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_at_every_request_of_scoring_changes_nothing_after_the_retry(baseline, injector, when):
    """For each k: the kth DynamoDB request of the scoring run fails (before it is made, or after it took effect
    and before its answer was seen); the message is retried; the tables end as in the fault-free run."""
    expected, calls = baseline
    for k in range(1, calls + 1):
        tables, _ = run(scenario(), injector, crash_at(k, when))
        assert [n for n, _ in injector.fired] == [k]  # the run reached request k and failed there, once
        injector.fired.clear()
        assert tables == expected, f"a crash {when} request {k} left different tables"


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_burst_of_throttling_loses_and_doubles_nothing(baseline, injector, code):
    """Every third request of the first 60 is refused as throttled (what DynamoDB answers once botocore's own
    retries are spent): the messages are retried until the burst is over. Here retries come at once (visibility
    0), so more receives are allowed than the 5 that, 180 s apart, span a 15-minute burst in AWS."""
    expected, _ = baseline
    tables, _ = run(scenario(), injector,
                    lambda n, operation, kwargs: ("before", client_error(code, operation, kwargs))
                    if n % 3 == 0 and n <= 60 else (None, None), max_receives=25)
    assert len(injector.fired) > 5
    assert tables == expected


@pytest.mark.parametrize("reason", ["ConditionalCheckFailed", "TransactionConflict"])
def test_cancelled_transactions_are_retried_to_the_same_outcome(baseline, injector, reason):
    """Every other transaction is cancelled the way DynamoDB cancels a lost race: the use case's own retry
    (ConcurrentUpdate) or the queue's redelivery finishes the job."""
    expected, _ = baseline
    seen = {"transactions": 0}

    def plan(n, operation, kwargs):
        if operation != "TransactWriteItems":
            return None, None
        seen["transactions"] += 1
        if seen["transactions"] % 2:
            return "before", client_error("TransactionCanceledException", operation, kwargs, [reason, "None"])
        return None, None
    tables, _ = run(scenario(), injector, plan, max_receives=25)
    # The transactions are the learners' saves (board entries are single conditional writes, folded from the stream)
    assert len(injector.fired) >= 2
    assert tables == expected


def test_a_failing_stream_does_not_make_the_rest_of_its_batch_run_again(injector):
    """Partial batch failure: the handler reports only the failing message; the others are deleted."""
    with world() as (client, adapters, sqs, dlq, pump):
        post(client, scenario())
        received, attempts = [], {"other": 0}

        def plan(n, operation, kwargs):
            text = json.dumps(kwargs, default=str)
            if LEARNER in text:
                return "before", RuntimeError("poisoned learner")
            if OTHER in text and operation == "GetItem" and "learners" in kwargs.get("TableName", ""):
                attempts["other"] += 1
            return None, None
        injector.plan, injector.active = plan, True
        try:
            sub = pump.subscriptions[0]
            while True:
                got, failed = pump.poll(sub, wait_seconds=0)
                if not got:
                    break
                received.append((got, failed))
        finally:
            injector.active = False
        assert attempts["other"] == 1, "the healthy learner was scored once, not once per retry of the batch"
        assert sum(failed for _, failed in received) == 4  # the poisoned learner's message failed 4 times ...
        dead = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], MaxNumberOfMessages=10)["Messages"]
        assert [json.loads(m["Body"])["stream"] for m in dead] == [f"learner:{LEARNER}"]  # ... then went here


def test_a_poison_message_reaches_the_dead_letter_queue_with_its_reason_and_replays_once_fixed(injector):
    from chalicelib.ops.replay_dlq import replay
    with world() as (client, adapters, sqs, dlq, pump):
        post(client, scenario())
        injector.plan = lambda n, operation, kwargs: (
            ("before", RuntimeError("bad rules file: no such course")) if LEARNER in json.dumps(kwargs, default=str)
            else (None, None))
        injector.active = True
        try:
            drain(pump)
        finally:
            injector.active = False
        [dead] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], VisibilityTimeout=0)["Messages"]
        attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
        assert attributes["failure_reason"] == "RuntimeError: bad rules file: no such course"
        assert attributes["failure_error"] == "RuntimeError"
        assert attributes["failed_receives"] == "5" and attributes["source_queue"] == settings.SCORING_QUEUE
        assert adapters.learners.get(LEARNER) is None  # never scored

        listed = replay(sqs, settings.SCORING_QUEUE, dry_run=True)
        assert listed["moved"] == 0 and listed["reasons"] == {"RuntimeError: bad rules file: no such course": 1}
        # the cause is fixed (no more injected failure): replay, and the learner is scored
        moved = replay(sqs, settings.SCORING_QUEUE)
        assert moved["moved"] == 1
        drain(pump)
        assert adapters.learners.get(LEARNER).standing.points > 0
        assert not sqs.receive_message(QueueUrl=dlq).get("Messages")


def test_sqs_redrive_still_catches_a_message_whose_handler_died(injector):
    """When the consumer itself dies (timeout, out of memory), SQS's redrive moves the message without a
    reason after maxReceiveCount receives: moto honours it, as SQS does."""
    with world() as (client, adapters, sqs, dlq, pump):
        sqs.send_message(QueueUrl=adapters.queue.url, MessageBody=json.dumps({"stream": "learner:x"}))
        for _ in range(6):  # received and never deleted: the handler "died" each time
            sqs.receive_message(QueueUrl=adapters.queue.url)
        dead = sqs.receive_message(QueueUrl=dlq).get("Messages", [])
        assert [json.loads(m["Body"]) for m in dead] == [{"stream": "learner:x"}]
