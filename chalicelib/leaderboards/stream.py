"""The board entries' stream, folded into board summaries and org statistics (leaderboards/store.py fold).

AWS: a DynamoDB stream on board-entries (NEW_AND_OLD_IMAGES) with an event source mapping onto the
fold_board_changes function (infra/resources.yaml; invoked as soon as a poll finds records). Locally and in tests
the same function is called by a poller of the stream API (local/board_stream.py). A batch that fails is
retried by Lambda until it folds: the sequence guards of the aggregates apply each record once. A batch whose
records expire first is named on the audit queue (the mapping's on-failure destination): `failed_batch_records`
reads it again so that its dead letter names the boards to recount (audit/boards.py failed_batch_reason).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from chalicelib.leaderboards.boards import Entry
from chalicelib.leaderboards.store import StreamChange


def _plain(image: Mapping[str, Any]) -> dict:
    from boto3.dynamodb.types import TypeDeserializer
    deserialize = TypeDeserializer().deserialize
    return {name: deserialize(value) for name, value in image.items()}


def _entry(image: Optional[Mapping[str, Any]]) -> Optional[Entry]:
    if not image:
        return None
    from pynamodb.attributes import UTCDateTimeAttribute
    item = _plain(image)
    reached = item.get("reached_at")
    return Entry(item["board_shard"].rsplit("#", 1)[0], item["learner_id"], item.get("org_id"),
                 int(item.get("points", 0)), int(item.get("minutes", 0)),
                 UTCDateTimeAttribute().deserialize(reached) if reached else None)


def _parents(image: Optional[Mapping[str, Any]]) -> tuple[str, ...]:
    if not image or "parents" not in image:
        return ()
    return tuple(value["S"] for value in image["parents"].get("L", []))


def changes_in(records: Iterable[Mapping[str, Any]]) -> list[StreamChange]:
    """Stream records (Lambda's event["Records"] or the stream API's GetRecords) as entry changes, in order."""
    changes = []
    for record in records:
        data = record["dynamodb"]
        old, new = data.get("OldImage"), data.get("NewImage")
        shard_key = (data.get("Keys") or new or old)["board_shard"]["S"]
        changes.append(StreamChange(int(shard_key.rsplit("#", 1)[1]), data["SequenceNumber"], _entry(old), _entry(new),
                                    _parents(new) or _parents(old)))
    return changes


def fold_records(records: Iterable[Mapping[str, Any]], adapters) -> int:
    """The stream handler's work: one fold of the batch. Returns how many records it held."""
    changes = changes_in(records)
    if changes:
        adapters.boards.fold(changes)
    return len(changes)


def streams_client():
    """The DynamoDB Streams API beside the tables' endpoint (DynamoDB Local and moto answer both). Made per call:
    its callers are rare (a poller, a failed batch), and the endpoint is the one in force now."""
    import boto3
    from chalicelib import settings
    from chalicelib.leaderboards.models import BoardEntryRecord
    endpoint = BoardEntryRecord._get_connection().connection.client.meta.endpoint_url
    if "amazonaws.com" in endpoint:  # AWS (and moto): the plain regional name (botocore would put the account in front)
        endpoint = f"https://streams.dynamodb.{settings.REGION}.amazonaws.com"
    return boto3.client("dynamodbstreams", region_name=settings.REGION, endpoint_url=endpoint)


def failed_batch_records(info: Mapping[str, Any], client=None, most_empty_pages: int = 3) -> list[dict]:
    """The records of a batch Lambda gave up on, read again from the stream (which keeps them 24 hours): `info` is
    the on-failure record's DDBStreamBatchInfo (shardId, startSequenceNumber, endSequenceNumber, streamArn)."""
    client = client or streams_client()
    end = int(info["endSequenceNumber"])
    iterator = client.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                         ShardIteratorType="AT_SEQUENCE_NUMBER",
                                         SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
    records: list[dict] = []
    empty = 0
    while iterator and empty < most_empty_pages:
        answer = client.get_records(ShardIterator=iterator, Limit=1000)
        page = answer.get("Records", [])
        empty = 0 if page else empty + 1
        for record in page:
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > end:
                return records
            records.append(record)
            if sequence == end:
                return records
        iterator = answer.get("NextShardIterator")
    return records


def boards_in(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """The boards whose entries these stream records changed."""
    return {some.board for change in changes_in(records) for some in (change.new or change.old,) if some}
