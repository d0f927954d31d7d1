"""Poison messages: a message failing its last allowed receive goes to its queue's dead-letter queue with why.

SQS moves a message to the DLQ by itself after maxReceiveCount receives (infra/resources.yaml: 5), but a moved
message carries no reason. So a consumer settles its failures here: a message on its last receive is sent to
`<queue>-dlq` (the naming tests/test_infra.py enforces) with message attributes saying why, and reported done;
the others are reported failed and retried. If that send fails, the message is reported failed and SQS's own
redrive moves it on the next receive (without a reason; the log line of every failure has one).
`make replay-dlq QUEUE=<name>` (chalicelib/ops/replay_dlq.py) puts them back once the cause is fixed.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Callable, Collection, Mapping

from chalicelib.logs import redact

MAX_RECEIVES = int(os.environ.get("KARMAYOGI_MAX_RECEIVES") or 5)  # the queues' maxReceiveCount


def reason_of(exc: BaseException) -> str:
    """The error's type and message, personal data masked and cut short (messages may quote input)."""
    return f"{type(exc).__name__}: {redact(str(exc))}"[:500]


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def batch_response(sqs_records, failed: Mapping[str, str], sqs: Callable[[], Any], log,
                   max_receives: int | None = None, final: Collection[str] = ()) -> dict:
    """What an SQS handler returns: the messages to retry as batchItemFailures, the rest done (settled here).
    `sqs_records` are Chalice's records of the batch."""
    retry = settle([r.to_dict() for r in sqs_records], failed, sqs, log, max_receives, final)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}


def settle(records: list[dict], failed: Mapping[str, str], sqs: Callable[[], Any], log,
           max_receives: int | None = None, final: Collection[str] = ()) -> list[str]:
    """Message ids to report as batchItemFailures. `records` are the raw SQS records of the batch; `failed`,
    message id -> reason, for those that failed; `final`, those of them that no retry can fix (dead-lettered on
    this receive, whatever its count)."""
    retry, max_receives = [], max_receives or MAX_RECEIVES
    for record in records:
        message_id = record["messageId"]
        if message_id not in failed:
            continue
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        if receives < max_receives and message_id not in final:
            retry.append(message_id)
            continue
        queue = _queue_name(record.get("eventSourceARN", ""))
        try:
            client = sqs()
            url = client.get_queue_url(QueueName=f"{queue}-dlq")["QueueUrl"]
            attributes = {name: {"DataType": "String", "StringValue": value} for name, value in {
                "failure_reason": failed[message_id] or "unknown",
                "failure_error": (failed[message_id] or "unknown").split(":", 1)[0],
                "failed_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "failed_receives": str(receives), "source_queue": queue}.items()}
            for name, value in (record.get("messageAttributes") or {}).items():
                if name not in attributes and value.get("stringValue") is not None:
                    attributes[name] = {"DataType": value.get("dataType", "String"),
                                        "StringValue": value["stringValue"]}
            client.send_message(QueueUrl=url, MessageBody=record["body"], MessageAttributes=attributes)
            # The log gets the error's type only (logs reach more people than the queue; a message can quote
            # input); the dead letter carries the masked message too.
            log.error("message dead-lettered", extra={"queue": queue, "message_id": message_id,
                                                      "error": attributes["failure_error"]["StringValue"],
                                                      "receives": receives})
        except Exception as exc:  # SQS's redrive moves it on the next receive instead
            log.error("dead-lettering failed", extra={"queue": queue, "error": type(exc).__name__})
            retry.append(message_id)
    return retry
