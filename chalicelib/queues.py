"""SQS adapter: the queue between ingestion and scoring."""
from __future__ import annotations

import json


class SqsStreamQueue:
    """Each message names one stream to recompute. Recomputing is idempotent, so duplicates are harmless."""

    def __init__(self, client, queue_name: str):
        self._client = client
        self._queue_name = queue_name
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self._client.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def send(self, streams: list[str], delay_seconds: int = 0) -> None:
        unique = list(dict.fromkeys(streams))
        for start in range(0, len(unique), 10):  # SQS takes 10 messages per batch
            batch = [{"Id": str(n), "MessageBody": json.dumps({"stream": s}), "DelaySeconds": delay_seconds}
                     for n, s in enumerate(unique[start:start + 10])]
            failed = self._client.send_message_batch(QueueUrl=self.url, Entries=batch).get("Failed")
            if failed:
                raise RuntimeError(f"SQS refused {len(failed)} message(s): {failed[0].get('Code')}")


def streams_in(sqs_records) -> list[tuple[str, str]]:
    """(message id, stream) for each record of an SQS batch."""
    # Chalice's SQSRecord exposes body and receipt handle only; the message id is in the raw record.
    return [(r.to_dict()["messageId"], json.loads(r.body)["stream"]) for r in sqs_records]
