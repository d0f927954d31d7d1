"""Auditors of what board entries add up to: each board's summary (score histogram and materialised top) and
each org's statistics, both folded from the entries' stream (leaderboards/store.py).

BoardFiguresAuditor walks the board-entries table (keys only, page by page) and, once per board it meets (from
the board's first shard that has entries), recounts the board's ranked entries by points (one index query per
shard) against the summary's histogram, reads the board's top from the index against the materialised top, and
for an org board totals its entries against the org's statistics. OrphanFiguresAuditor walks the summaries and
org-statistics tables for figures left where no entry is at all. Repairs ADD the difference (the fold ADDs
too, so a batch folded meanwhile is not undone) and re-read a wrong top; a difference found while scoring runs
may be one in flight (the stream is folded within about a second): audit again, and what persists is real.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Iterable

from chalicelib.audit import Difference
from chalicelib.leaderboards.boards import Scope, scope_of_board, scopes_for
from chalicelib.orgtree import parent_lookup
from chalicelib.leaderboards.store import _stats_shard, histogram_of, top_line
from chalicelib.leaderboards.models import BoardEntryRecord, BoardSummaryRecord, OrgStatsRecord

PAGE = 500
RECENT = 10_000  # board shards already checked in this segment (a scan meets a partition's items together)


class _Recent:
    """A bounded set: memory stays flat however many boards there are."""

    def __init__(self, size: int = RECENT):
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def _board(shard: str) -> str:
    return shard.rsplit("#", 1)[0]


def _shards(board: str, adapters) -> list[str]:
    return [f"{board}#{n}" for n in range(adapters.boards.config.shards_for(board))]


def _client():
    return BoardSummaryRecord._get_connection().connection.client


def _summary(key: str) -> dict:
    return _client().get_item(TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": key}},
                              ConsistentRead=True).get("Item", {})


def ranked_counts(board: str, adapters) -> Counter:
    return Counter(int(r.points) for shard in _shards(board, adapters)
                   for r in BoardEntryRecord.by_rank.query(shard, attributes_to_get=["points"]))


def live_counts(board: str) -> Counter:
    return histogram_of(_summary(board))


def entry_totals(board: str, adapters) -> tuple[int, int, int]:
    learners = points = minutes = 0
    for shard in _shards(board, adapters):
        for r in BoardEntryRecord.query(shard, attributes_to_get=["points", "minutes"]):
            learners, points, minutes = learners + 1, points + int(r.points), minutes + int(r.minutes)
    return learners, points, minutes


def _stats_key(board: str, adapters) -> tuple[str, str]:
    scope, period = scope_of_board(board), board.split("|", 1)[1]
    return f"{period}#{_stats_shard(scope.id, adapters.boards.config.org_stats_shards)}", str(scope.id)


def live_stats(board: str, adapters) -> tuple[int, int, int]:
    try:
        r = OrgStatsRecord.get(*_stats_key(board, adapters))
    except OrgStatsRecord.DoesNotExist:
        return 0, 0, 0
    return int(r.learners), int(r.points), int(r.minutes)


def _score_differences(board: str, expected: Counter) -> list[Difference]:
    live = live_counts(board)
    return [Difference("score-count", f"{board}|{points}", live.get(points, 0), expected.get(points, 0))
            for points in sorted(set(live) | set(expected)) if live.get(points, 0) != expected.get(points, 0)]


def _top_difference(board: str, adapters) -> list[Difference]:
    """The materialised top against the index's (only where the board has a summary: a top is made by the
    fold of the board's first batch)."""
    item = _summary(f"{board}#top")
    if not item:
        return []
    live = [v["S"] for v in item.get("top", {}).get("L", [])]
    expected = [top_line(e) for e in adapters.boards.index_page(board, None, adapters.boards.config.top_size,
                                                                  consistent=True)]
    return [] if live == expected else [Difference("board-top", board, len(live), len(expected))]


def _stat_difference(board: str, expected: tuple[int, int, int], adapters) -> list[Difference]:
    live = live_stats(board, adapters)
    if live == expected:
        return []
    names = ("learners", "points", "minutes")
    return [Difference("org-stat", board, dict(zip(names, live)), dict(zip(names, expected)))]


def failed_batch_reason(message: dict) -> str:
    """The board stream's on-failure record (Lambda retries a failed batch until its records are about to expire,
    then names it here): which boards the batch touched, if the stream still holds it, and the command that
    repairs them (the audit queue dead-letters the message at once with this reason; its DLQ is alarmed)."""
    from chalicelib.leaderboards.stream import boards_in, failed_batch_records
    info = message["DDBStreamBatchInfo"]
    try:
        boards = sorted(boards_in(failed_batch_records(info)))
    except Exception as exc:  # noqa: BLE001 (trimmed from the stream: the command below still repairs them)
        boards, why = [], type(exc).__name__
    else:
        why = f"{len(boards)} boards"
    shown = ", ".join(boards[:20]) + (f" and {len(boards) - 20} more" if len(boards) > 20 else "")
    return (f"board stream batch skipped ({info.get('batchSize')} records of {info['shardId']} from "
            f"{info['startSequenceNumber']}; {why}{': ' + shown if shown else ''}): "
            "make audit ARGS='--repair --auditor board-figures', then --auditor orphan-figures")


def _repair(differences: list[Difference], adapters) -> None:
    for d in differences:
        if d.kind == "score-count":
            board, points = d.key.rsplit("|", 1)
            _client().update_item(TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": board}},
                                  UpdateExpression="ADD #s :d", ExpressionAttributeNames={"#s": f"s{int(points)}"},
                                  ExpressionAttributeValues={":d": {"N": str(d.expected - d.live)}})
        elif d.kind == "board-top":
            adapters.boards.refresh_top(d.key)
        elif d.kind == "org-stat":
            org = scope_of_board(d.key).id
            parents = [s.key for s in scopes_for(org, parent_lookup(adapters))[1:] if s.kind != "national"]
            delta = {name: d.expected[name] - d.live[name] for name in d.expected}
            OrgStatsRecord(*_stats_key(d.key, adapters)).update(actions=[
                OrgStatsRecord.learners.add(delta["learners"]), OrgStatsRecord.points.add(delta["points"]),
                OrgStatsRecord.minutes.add(delta["minutes"]), OrgStatsRecord.parents.set(parents)])  # type: ignore[arg-type]  # pynamodb: str items typed as attributes


class BoardFiguresAuditor:
    """The summary (histogram and top) of every board that has entries, and the statistics of every org board."""
    name = "board-figures"

    def scan(self, segment: int, segments: int) -> Iterable[str]:
        recent = _Recent()
        for record in BoardEntryRecord.scan(segment=segment, total_segments=segments, page_size=PAGE,
                                            attributes_to_get=["board_shard"]):
            if recent.first_time(record.board_shard):
                yield record.board_shard

    def check(self, shard: str, adapters) -> list[Difference]:
        board = _board(shard)
        if not self._first_shard_with_entries(board, shard, adapters):
            return []  # the board is checked once, from its first shard with entries
        found = _score_differences(board, ranked_counts(board, adapters)) + _top_difference(board, adapters)
        if scope_of_board(board).kind == "org":
            found += _stat_difference(board, entry_totals(board, adapters), adapters)
        return found

    @staticmethod
    def _first_shard_with_entries(board: str, shard: str, adapters) -> bool:
        for candidate in _shards(board, adapters):
            if candidate == shard:
                return True
            if next(iter(BoardEntryRecord.query(candidate, limit=1, attributes_to_get=["learner_id"])), None):
                return False
        return False

    def repair(self, shard: str, differences: list[Difference], adapters) -> None:
        _repair(differences, adapters)


def _has_entries(board: str, adapters) -> bool:
    return any(next(iter(BoardEntryRecord.query(s, limit=1, attributes_to_get=["learner_id"])), None)
               for s in _shards(board, adapters))


class OrphanFiguresAuditor:
    """Histograms and org statistics left on boards with no entry at all (the other auditor never meets those
    boards)."""
    name = "orphan-figures"

    def scan(self, segment: int, segments: int) -> Iterable[tuple[str, str]]:
        start = None
        while True:
            page = _client().scan(TableName=BoardSummaryRecord.Meta.table_name, Segment=segment,
                                  TotalSegments=segments, Limit=PAGE, **({"ExclusiveStartKey": start} if start else {}))
            for item in page.get("Items", []):
                if not item["summary"]["S"].endswith("#top") and histogram_of(item):
                    yield ("scores", item["summary"]["S"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        for s in OrgStatsRecord.scan(segment=segment, total_segments=segments, page_size=PAGE):
            if int(s.learners) or int(s.points) or int(s.minutes):
                yield ("stats", f"{Scope('org', s.org_id).key}|{s.period_shard.rsplit('#', 1)[0]}")

    def check(self, item: tuple[str, str], adapters) -> list[Difference]:
        kind, board = item
        if _has_entries(board, adapters):
            return []  # BoardFiguresAuditor checks it
        if kind == "scores":
            return _score_differences(board, Counter())
        return _stat_difference(board, (0, 0, 0), adapters)

    def repair(self, item, differences: list[Difference], adapters) -> None:
        _repair(differences, adapters)
