"""The board entries' stream, folded into board summaries and org statistics (leaderboards/store.py fold).

AWS: a DynamoDB stream on board-entries (NEW_AND_OLD_IMAGES) with an event source mapping onto the
fold_board_changes function (infra/resources.yaml; batches gathered for up to a second). Locally and in tests
the same function is called by a poller of the stream API (local/board_stream.py). A batch that fails is
retried whole by Lambda: the sequence guards of the aggregates apply each record once.
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
