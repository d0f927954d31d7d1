"""Move every message of a dead-letter queue back to its queue, once the cause is fixed.

    make replay-dlq QUEUE=notifications            # karmayogi-<stage>-notifications-dlq -> ...-notifications
    python -m local.replay_dlq notifications --stage prod

Works on whatever the AWS environment points at (the local stack's moto, or a real account with credentials
allowed to receive from the DLQ and send to the queue). A message is deleted from the DLQ only after it was
sent to the queue, so a crash half-way duplicates at worst (every consumer here is idempotent) and loses nothing.
Notification delivery records that went "failed" become deliverable again when their message comes back.
"""
from __future__ import annotations

import argparse
import os
import sys


def replay(sqs, queue_name: str, limit: int = 100_000) -> int:
    """Moves up to `limit` messages from `<queue_name>-dlq` to `queue_name`; returns how many."""
    source = sqs.get_queue_url(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    target = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    moved = 0
    while moved < limit:
        messages = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return moved
        sqs.send_message_batch(QueueUrl=target, Entries=[{"Id": str(n), "MessageBody": m["Body"]}
                                                         for n, m in enumerate(messages)])
        sqs.delete_message_batch(QueueUrl=source, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                                           for n, m in enumerate(messages)])
        moved += len(messages)
    return moved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.replay_dlq", description=__doc__.splitlines()[0])
    parser.add_argument("queue", help="the queue's short name (notifications, scoring) or full name")
    parser.add_argument("--stage", default=os.environ.get("KARMAYOGI_STAGE") or "local")
    args = parser.parse_args(argv)
    if args.stage == "local" and "AWS_ENDPOINT_URL" not in os.environ:
        from local.stack import Ports, require_listening, set_environment
        ports = Ports.from_env()
        require_listening(ports)
        set_environment(ports)
    import boto3
    name = args.queue if args.queue.startswith("karmayogi-") else f"karmayogi-{args.stage}-{args.queue}"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-south-1"
    moved = replay(boto3.client("sqs", region_name=region), name)
    print(f"moved {moved} message(s) from {name}-dlq back to {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
