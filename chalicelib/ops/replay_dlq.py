"""`make replay-dlq QUEUE=<name> [ARGS="--dry-run --max 100"]`: move the messages of a queue's dead-letter
queue (`<queue>-dlq`) back to the queue, once what made them fail is fixed (against `make run`: ARGS=--local,
through local/ops.py).

QUEUE is a full queue name (karmayogi-prod-scoring) or its short name (scoring), completed with the stage
(KARMAYOGI_STAGE). Works for any queue with a `-dlq` beside it. Each message is sent back with its body and its
own attributes (the failure_* attributes chalicelib/deadletters.py added are dropped), then deleted from the
DLQ; a crash in between sends it twice, which the consumers tolerate (recomputing is idempotent). --dry-run
lists the reasons and moves nothing (the messages are visible again when it ends). Bounded: stops when the DLQ is empty or after --max messages.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

from chalicelib.ops import target

DROPPED = ("failure_reason", "failure_error", "failed_at", "failed_receives", "source_queue")


def queue_name(name: str, stage: str) -> str:
    return name if name.startswith("karmayogi-") else f"karmayogi-{stage}-{name}"


def replay(sqs, queue: str, max_messages: int | None = None, dry_run: bool = False) -> dict:
    source = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName=f"{queue}-dlq")["QueueUrl"]
    moved, reasons, seen, hidden = 0, Counter[str](), set(), []
    while max_messages is None or moved < max_messages:
        want = 10 if max_messages is None else max(1, min(10, max_messages - moved))
        # A dry run leaves each message invisible for a while, so it is not read twice in one pass.
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=want, MessageAttributeNames=["All"],
                                       VisibilityTimeout=60 if dry_run else 30).get("Messages", [])
        messages = [m for m in messages if m["MessageId"] not in seen]
        if not messages:
            break
        for m in messages:
            seen.add(m["MessageId"])
            attributes = m.get("MessageAttributes", {})
            reasons[attributes.get("failure_reason", {}).get("StringValue", "(no reason recorded)")] += 1
            if dry_run:
                hidden.append(m["ReceiptHandle"])
                continue
            kept = {k: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
                    for k, v in attributes.items() if k not in DROPPED and "StringValue" in v}
            sqs.send_message(QueueUrl=source, MessageBody=m["Body"], MessageAttributes=kept)
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    for start in range(0, len(hidden), 10):  # a dry run leaves the DLQ as it found it
        sqs.change_message_visibility_batch(QueueUrl=dlq, Entries=[
            {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for n, handle in enumerate(hidden[start:start + 10])])
    return {"queue": queue, "dead_letter_queue": f"{queue}-dlq", "moved": moved, "dry_run": dry_run,
            "read": len(seen), "reasons": dict(reasons)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops.replay_dlq", description=__doc__.splitlines()[0])
    parser.add_argument("queue", help="queue name, or its short name (scoring)")
    parser.add_argument("--max", type=int, default=None, help="move at most this many")
    parser.add_argument("--dry-run", action="store_true", help="list the reasons, move nothing")
    args = parser.parse_args(argv)
    target()
    import boto3
    from chalicelib import settings
    sqs = boto3.client("sqs", region_name=settings.REGION)
    result = replay(sqs, queue_name(args.queue, os.environ["KARMAYOGI_STAGE"]), args.max, args.dry_run)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
