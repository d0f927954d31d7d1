"""What Lambda's event sources do on AWS, done in-process for the local stack and the seeder.

`chalice local` serves HTTP routes only. The pump long-polls every SQS queue the app subscribes to
(`@app.on_sqs_message`), hands each batch to the handler as the raw Lambda event, and deletes what the handler
did not report in `batchItemFailures`; failed messages become visible again and, after the queue's
maxReceiveCount, the queue's redrive policy moves them to the dead-letter queue (moto honours it, as SQS does).
It also runs scheduled handlers on a timer, from SCHEDULES.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from chalice.app import SQSEventConfig
from chalice.local import LambdaContext

# Scheduled handlers (`@app.schedule`) the pump runs locally: handler name -> seconds between runs.
# Local intervals are short on purpose, so that a demo shows their effect (the weekly audit: hourly).
SCHEDULES: dict[str, float] = {
    "advance_campaigns": 30.0,  # campaign lifecycle and closing (every 5 minutes on AWS)
    "notifications_every_minute": 15,  # badge digests of closed windows; outbox sweep (chalicelib/notifications/)
    "nightly_nudges": 60,  # daily in AWS; idempotent, so running it often locally only shows it sooner
    "campaign_reminders": 60,  # hourly in the day in AWS; a reminder is decided once per learner, kind, campaign
    "admin_weekly_summaries": 300,  # Mondays in AWS; once per admin per week whatever the runs
    "audit_weekly": 3600,  # weekly in AWS (chalicelib/audit/)
}

ACCOUNT = "123456789012"  # moto's default account, as in the queue ARNs it returns
log = logging.getLogger("karmayogi.local.pump")


@dataclass(frozen=True)
class Subscription:
    """One `@app.on_sqs_message` handler and the queue it reads."""
    handler: str
    queue_url: str
    queue_arn: str
    batch_size: int


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One SQS message as Lambda puts it in an event's Records (camelCase keys, string attributes)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
            for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def scheduled_event(handler: str, region: str, now: datetime) -> dict:
    """The EventBridge event a schedule rule delivers to its Lambda."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{handler}"], "detail": {},
    }


def failed_ids(result) -> set[str]:
    """Message ids a handler reported as failed (ReportBatchItemFailures); None or {} means all succeeded."""
    if not isinstance(result, dict):
        return set()
    return {item["itemIdentifier"] for item in result.get("batchItemFailures") or []}


class Pump:
    def __init__(self, app, sqs, region: str, schedules: Optional[dict[str, float]] = None,
                 wait_seconds: int = 1, board_stream: bool = False):
        self._app = app
        self._sqs = sqs
        self._region = region
        self._wait_seconds = wait_seconds
        # The default list names this app's handlers; another app (a test's) runs only those it has.
        self._schedules = ({name: every for name, every in SCHEDULES.items() if name in app.handler_map}
                           if schedules is None else dict(schedules))
        unknown = set(self._schedules) - set(app.handler_map)
        if unknown:
            raise ValueError(f"no such handler(s) in the app: {', '.join(sorted(unknown))}")
        self.subscriptions = [self._subscribe(source) for source in app.event_sources
                              if isinstance(source, SQSEventConfig)]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # The board entries' DynamoDB stream into fold_board_changes (its event source mapping in AWS).
        self.board_stream = None
        if board_stream and "fold_board_changes" in app.handler_map:
            from local.board_stream import BoardStreamPoller
            handler = app.handler_map["fold_board_changes"]
            self.board_stream = BoardStreamPoller(
                None, handler=lambda records: handler({"Records": records}, self._context("fold_board_changes")))

    def _subscribe(self, source: SQSEventConfig) -> Subscription:
        url = self._sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Subscription(source.name, url, arn, min(source.batch_size, 10))

    def _context(self, handler: str) -> LambdaContext:
        return LambdaContext(function_name=f"{self._app.app_name}-local-{handler}", memory_size=128,
                             max_runtime_ms=60_000)

    # --- SQS -------------------------------------------------------------------------------------------
    def poll(self, sub: Subscription, wait_seconds: Optional[int] = None) -> tuple[int, int]:
        """Receive one batch, run the handler, delete what succeeded. Returns (received, failed)."""
        messages = self._sqs.receive_message(
            QueueUrl=sub.queue_url, MaxNumberOfMessages=sub.batch_size, MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=self._wait_seconds if wait_seconds is None else wait_seconds).get("Messages", [])
        if not messages:
            return 0, 0
        event = {"Records": [sqs_record(m, sub.queue_arn, self._region) for m in messages]}
        try:
            failed = failed_ids(self._app.handler_map[sub.handler](event, self._context(sub.handler)))
        except Exception as exc:  # as on Lambda, a handler that raises fails the whole batch
            log.error("handler %s raised %s: the batch will be retried", sub.handler, type(exc).__name__)
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(QueueUrl=sub.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        return len(messages), len(messages) - len(done)

    def drain(self, workers: int = 2) -> Counter:
        """Deliver everything queued now, with `workers` concurrent consumers per queue (as Lambda scales out),
        and return counts of messages received and failed; failed ones stay queued for a retry."""
        totals, lock = Counter(), threading.Lock()

        def consume(sub: Subscription) -> None:
            while not self._stopping.is_set():
                received, failed = self.poll(sub, wait_seconds=0)  # all of it is queued already: no long poll
                with lock:
                    totals.update(received=received, failed=failed)
                if not received:
                    return

        threads = [threading.Thread(target=consume, args=(sub,), daemon=True, name=f"drain-{sub.handler}")
                   for sub in self.subscriptions for _ in range(workers)]
        for thread in threads:
            thread.start()
        # Kept so that stop() waits for batches in flight; finished ones are let go.
        self._threads = [t for t in self._threads if t.is_alive()] + threads
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=1)  # a timed wait lets SIGINT and SIGTERM through to the main thread
        if self.board_stream is not None:
            totals.update(folded=self.board_stream.drain())
        return totals

    def _consume_forever(self, sub: Subscription) -> None:
        while not self._stopping.is_set():
            try:
                self.poll(sub)
            except Exception as exc:  # e.g. the queue server going away during shutdown
                if not self._stopping.is_set():
                    log.error("polling %s failed: %s", sub.handler, type(exc).__name__)
                    self._stopping.wait(1)

    # --- schedules -------------------------------------------------------------------------------------
    def run_scheduled(self, handler: str) -> None:
        event = scheduled_event(handler, self._region, datetime.now(timezone.utc))
        self._app.handler_map[handler](event, self._context(handler))

    def _schedule_forever(self) -> None:
        due = {name: time.monotonic() + interval for name, interval in self._schedules.items()}
        while not self._stopping.wait(0.5):
            for name, at in due.items():
                if time.monotonic() >= at:
                    try:
                        self.run_scheduled(name)
                    except Exception as exc:
                        log.error("scheduled handler %s raised %s", name, type(exc).__name__)
                    due[name] = time.monotonic() + self._schedules[name]

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Background threads: one consumer per queue, and the timer if any schedule is registered."""
        targets = [(self._consume_forever, (sub,), f"pump-{sub.handler}") for sub in self.subscriptions]
        if self._schedules:
            targets.append((self._schedule_forever, (), "pump-schedules"))
        for target, args, name in targets:
            thread = threading.Thread(target=target, args=args, daemon=True, name=name)
            thread.start()
            self._threads.append(thread)
        if self.board_stream is not None:
            self.board_stream.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self.board_stream is not None:
            self.board_stream.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
