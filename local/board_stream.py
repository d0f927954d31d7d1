"""The board entries' stream, polled locally (DynamoDB Local, moto) and handed to the same fold as Lambda's
event source mapping hands it in AWS (chalicelib/leaderboards/stream.py fold_records).

    poller = BoardStreamPoller(adapters)
    poller.drain()                 # fold every record published so far; returns how many
    poller.start(interval=0.2)     # or keep folding in a thread (the local stack, bench-peak); poller.stop()
    adapters.boards = settled(adapters.boards, poller)  # tests: every aggregate read drains first

A poller keeps, per stream shard, its iterator and the last sequence number it handed over, and reads a child
shard only once its parent is finished, as Lambda does.
"""
from __future__ import annotations

import threading
from typing import Optional


# How often Lambda polls a stream shard when the event source mapping's batching window is 0 (infra/resources.yaml
# BoardEntriesStream): "at a base rate of 4 times per second", invoking as soon as a poll finds records.
LAMBDA_POLL_SECONDS = 0.25


class BoardStreamPoller:
    def __init__(self, adapters, client=None, limit: int = 1000, handler=None):
        """handler(records), if given, is called instead of folding with `adapters` (the local stack hands the
        records to the app's fold_board_changes function, as Lambda does)."""
        self.adapters = adapters
        self._handler = handler
        self._client = client
        self._limit = limit
        self._arn: Optional[str] = None
        self._iterators: dict[str, str] = {}
        self._last: dict[str, str] = {}
        self._finished: set[str] = set()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.folded = 0
        self.batches = 0

    @property
    def client(self):
        if self._client is None:
            # chalicelib is imported when first used, here and below, as the models are: bench-peak reads
            # LAMBDA_POLL_SECONDS before it points the settings (stage, endpoints) at its own servers.
            from chalicelib.leaderboards.stream import streams_client
            self._client = streams_client()
        return self._client

    def _stream_arn(self) -> str:
        if self._arn is None:
            from chalicelib.leaderboards.models import BoardEntryRecord
            table = BoardEntryRecord._get_connection().connection.client.describe_table(
                TableName=BoardEntryRecord.Meta.table_name)["Table"]
            self._arn = table["LatestStreamArn"]
        return self._arn

    def _shards(self) -> list[dict]:
        shards, start = [], None
        while True:
            args = {"StreamArn": self._stream_arn(), **({"ExclusiveStartShardId": start} if start else {})}
            description = self.client.describe_stream(**args)["StreamDescription"]
            shards += description.get("Shards", [])
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def _iterator(self, shard_id: str) -> str:
        if shard_id in self._iterators:
            return self._iterators[shard_id]
        args = {"StreamArn": self._stream_arn(), "ShardId": shard_id}
        if shard_id in self._last:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self._last[shard_id])
        else:
            args.update(ShardIteratorType="TRIM_HORIZON")
        return self.client.get_shard_iterator(**args)["ShardIterator"]

    def skip(self) -> int:
        """Pass over every record published so far without folding it (a test's tables just emptied)."""
        skipped = 0
        while True:
            found = self.poll(fold=False)
            skipped += found
            if not found:
                return skipped

    def poll(self, fold: bool = True) -> int:
        """One GetRecords per readable shard, each batch folded. Returns the records folded."""
        with self._lock:
            shards = self._shards()
            known = {s["ShardId"] for s in shards}
            folded = 0
            for shard in shards:
                shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
                if shard_id in self._finished or (parent in known and parent not in self._finished):
                    continue
                try:
                    answer = self.client.get_records(ShardIterator=self._iterator(shard_id), Limit=self._limit)
                except (self.client.exceptions.ExpiredIteratorException,
                        self.client.exceptions.TrimmedDataAccessException):
                    # (DynamoDB Local also answers TrimmedDataAccess for an iterator taken on a still empty shard.
                    # Reading again from the position kept is safe: the fold applies each record once.)
                    self._iterators.pop(shard_id, None)
                    answer = self.client.get_records(ShardIterator=self._iterator(shard_id), Limit=self._limit)
                records = answer.get("Records", [])
                if records:
                    if fold and self._handler is not None:
                        self._handler(records)
                    elif fold:
                        from chalicelib.leaderboards.stream import fold_records
                        fold_records(records, self.adapters)
                    self._last[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                    folded += len(records)
                    self.batches += 1
                following = answer.get("NextShardIterator")
                if following is None:
                    self._finished.add(shard_id)
                    self._iterators.pop(shard_id, None)
                else:
                    self._iterators[shard_id] = following
            self.folded += folded if fold else 0
            return folded

    def drain(self) -> int:
        """Fold until a poll finds nothing new."""
        total = 0
        while True:
            found = self.poll()
            total += found
            if not found:
                return total

    def start(self, interval: float = LAMBDA_POLL_SECONDS) -> "BoardStreamPoller":
        """Poll in a thread every `interval` seconds (Lambda's poll of a shard), at once again while batches
        come back full."""
        def run():
            while not self._stop.is_set():
                if self.poll() < self._limit:
                    self._stop.wait(interval)
        self._stop.clear()
        self._thread = threading.Thread(target=run, name="board-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


class SettledBoards:
    """A board store whose aggregate reads first drain the stream: tests read what they just scored."""
    _SETTLING = ("page", "page_and_scores", "scores", "scores_of", "org_stats", "above")

    def __init__(self, store, poller: BoardStreamPoller):
        self._store, self.poller = store, poller

    def __getattr__(self, name):
        found = getattr(self._store, name)
        if name in self._SETTLING:
            def settled(*args, **kwargs):
                self.poller.drain()
                return found(*args, **kwargs)
            return settled
        return found


def settled(adapters) -> BoardStreamPoller:
    """Wire `adapters` so that every aggregate read drains the board stream first (tests). Returns the poller."""
    poller = BoardStreamPoller(adapters)
    adapters.boards = SettledBoards(adapters.boards, poller)
    return poller


def write_histograms(histograms: dict) -> None:
    """Benches' bulk loads: board -> Counter(points -> learners) written as whole board summaries (what the fold
    would have made of those entries; no top)."""
    from chalicelib.leaderboards.models import BoardSummaryRecord
    client = BoardSummaryRecord._get_connection().connection.client
    table = BoardSummaryRecord.Meta.table_name
    items = [{"summary": {"S": board}, **{f"s{p}": {"N": str(n)} for p, n in counts.items() if n}}
             for board, counts in histograms.items()]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
        while requests:
            requests = client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {}).get(table, [])
