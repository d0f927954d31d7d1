"""Auditors of what board entries add up to: score counts per board shard, org statistics per org and period.

BoardFiguresAuditor walks the board-entries table (keys only, page by page) and, once per board shard it meets,
recounts the shard's ranked entries by points (one index query of the shard) against its score counts, and for
an org board the entries of all its shards against the org's statistics. OrphanFiguresAuditor walks the
score-count and org-statistics tables for figures left where no entry is at all. Repairs ADD the difference,
so a scorer writing meanwhile (ADD too) is not undone; a difference found while scoring runs may be one
in flight: audit again, and what persists is real.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Iterable

from chalicelib.audit import Difference
from chalicelib.leaderboards.boards import Scope, scope_of_board, scopes_for
from chalicelib.orgtree import parent_lookup
from chalicelib.leaderboards.store import _stats_shard
from chalicelib.leaderboards.models import BoardEntryRecord, BoardScoreRecord, OrgStatsRecord

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


def ranked_counts(shard: str) -> Counter:
    return Counter(int(r.points) for r in BoardEntryRecord.by_rank.query(shard, attributes_to_get=["points"]))


def live_counts(shard: str) -> Counter:
    return Counter({int(r.points): int(r.learners) for r in BoardScoreRecord.query(shard) if int(r.learners)})


def entry_totals(board: str, adapters) -> tuple[int, int, int]:
    learners = points = minutes = 0
    for shard in _shards(board, adapters):
        for r in BoardEntryRecord.query(shard, attributes_to_get=["points", "minutes"]):
            learners, points, minutes = learners + 1, points + int(r.points), minutes + int(r.minutes)
    return learners, points, minutes


def _stats_key(board: str, adapters) -> tuple[str, str]:
    scope, period = scope_of_board(board), board.split("|", 1)[1]
    return f"{period}#{_stats_shard(scope.id, adapters.boards.config.org_stats_shards)}", scope.id


def live_stats(board: str, adapters) -> tuple[int, int, int]:
    try:
        r = OrgStatsRecord.get(*_stats_key(board, adapters))
    except OrgStatsRecord.DoesNotExist:
        return 0, 0, 0
    return int(r.learners), int(r.points), int(r.minutes)


def _score_differences(shard: str, expected: Counter) -> list[Difference]:
    live = live_counts(shard)
    return [Difference("score-count", f"{shard}|{points}", live.get(points, 0), expected.get(points, 0))
            for points in sorted(set(live) | set(expected)) if live.get(points, 0) != expected.get(points, 0)]


def _stat_difference(board: str, expected: tuple[int, int, int], adapters) -> list[Difference]:
    live = live_stats(board, adapters)
    if live == expected:
        return []
    names = ("learners", "points", "minutes")
    return [Difference("org-stat", board, dict(zip(names, live)), dict(zip(names, expected)))]


def _repair(differences: list[Difference], adapters) -> None:
    for d in differences:
        if d.kind == "score-count":
            shard, points = d.key.rsplit("|", 1)
            BoardScoreRecord(shard, int(points)).update(
                actions=[BoardScoreRecord.learners.add(d.expected - d.live)])
        elif d.kind == "org-stat":
            org = scope_of_board(d.key).id
            parents = [s.key for s in scopes_for(org, parent_lookup(adapters))[1:] if s.kind != "national"]
            delta = {name: d.expected[name] - d.live[name] for name in d.expected}
            OrgStatsRecord(*_stats_key(d.key, adapters)).update(actions=[
                OrgStatsRecord.learners.add(delta["learners"]), OrgStatsRecord.points.add(delta["points"]),
                OrgStatsRecord.minutes.add(delta["minutes"]), OrgStatsRecord.parents.set(parents)])  # type: ignore[arg-type]  # pynamodb: str items typed as attributes


class BoardFiguresAuditor:
    """Score counts and org statistics of every board shard that has entries."""
    name = "board-figures"

    def scan(self, segment: int, segments: int) -> Iterable[str]:
        recent = _Recent()
        for record in BoardEntryRecord.scan(segment=segment, total_segments=segments, page_size=PAGE,
                                            attributes_to_get=["board_shard"]):
            if recent.first_time(record.board_shard):
                yield record.board_shard

    def check(self, shard: str, adapters) -> list[Difference]:
        found = _score_differences(shard, ranked_counts(shard))
        board = _board(shard)
        # An org board's statistics once per board: from its first shard that has entries.
        if scope_of_board(board).kind == "org" and self._first_shard_with_entries(board, shard, adapters):
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


class OrphanFiguresAuditor:
    """Score counts and org statistics left on boards with no entry at all (the other auditor never meets
    those boards)."""
    name = "orphan-figures"

    def scan(self, segment: int, segments: int) -> Iterable[tuple[str, str]]:
        recent = _Recent()
        for r in BoardScoreRecord.scan(segment=segment, total_segments=segments, page_size=PAGE):
            if int(r.learners) and recent.first_time(r.board_shard):
                yield ("scores", r.board_shard)
        for s in OrgStatsRecord.scan(segment=segment, total_segments=segments, page_size=PAGE):
            if int(s.learners) or int(s.points) or int(s.minutes):
                yield ("stats", f"{Scope('org', s.org_id).key}|{s.period_shard.rsplit('#', 1)[0]}")

    def check(self, item: tuple[str, str], adapters) -> list[Difference]:
        kind, key = item
        if kind == "scores":
            if next(iter(BoardEntryRecord.query(key, limit=1, attributes_to_get=["learner_id"])), None):
                return []  # BoardFiguresAuditor checks it
            return _score_differences(key, Counter())
        if any(next(iter(BoardEntryRecord.query(s, limit=1, attributes_to_get=["learner_id"])), None)
               for s in _shards(key, adapters)):
            return []
        return _stat_difference(key, (0, 0, 0), adapters)

    def repair(self, item, differences: list[Difference], adapters) -> None:
        _repair(differences, adapters)
