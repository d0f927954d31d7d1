"""SQS adapters: one queue that takes JSON bodies, and the scoring queue built on it."""
from __future__ import annotations

import json
from typing import Protocol

SQS_BATCH = 10  # messages per SendMessageBatch
SQS_MAX_DELAY = 900  # seconds: SQS's longest DelaySeconds


class JsonQueue(Protocol):
    def send_json(self, bodies: list[dict], delay_seconds: int = 0) -> None:
        """Send these JSON bodies as messages; at-least-once."""


class SqsQueue:
    """A queue by name, its URL looked up once; sends JSON bodies in batches of ten."""

    def __init__(self, client, queue_name: str):
        self._client = client
        self._queue_name = queue_name
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self._client.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send_json(self, bodies: list[dict], delay_seconds: int = 0) -> None:
        delay = min(delay_seconds, SQS_MAX_DELAY)
        for start in range(0, len(bodies), SQS_BATCH):
            batch = [{"Id": str(n), "MessageBody": json.dumps(body), "DelaySeconds": delay}
                     for n, body in enumerate(bodies[start:start + SQS_BATCH])]
            failed = self._client.send_message_batch(QueueUrl=self.url, Entries=batch).get("Failed")
            if failed:
                raise RuntimeError(f"SQS refused {len(failed)} message(s): {failed[0].get('Code')}")


class MemoryQueue:
    """The in-memory fake of SqsQueue: what was sent, in order."""

    def __init__(self):
        self.sent: list[dict] = []

    def send_json(self, bodies: list[dict], delay_seconds: int = 0) -> None:
        self.sent.extend(bodies)


class SqsStreamQueue(SqsQueue):
    """Each message names one stream to recompute. Recomputing is idempotent, so duplicates are harmless."""

    def send(self, streams: list[str], delay_seconds: int = 0) -> None:
        self.send_json([{"stream": s} for s in dict.fromkeys(streams)], delay_seconds)


def bodies_in(sqs_records) -> list[tuple[str, dict]]:
    """(message id, decoded body) for each record of an SQS batch."""
    # Chalice's SQSRecord exposes body and receipt handle only; the message id is in the raw record.
    return [(r.to_dict()["messageId"], json.loads(r.body)) for r in sqs_records]


def streams_in(sqs_records) -> list[tuple[str, str]]:
    """(message id, stream) for each record of an SQS batch."""
    return [(message_id, body["stream"]) for message_id, body in bodies_in(sqs_records)]
