"""Leaderboard storage: DynamoDB adapter and its in-memory twin.

Every change to one learner's entry on one board is applied together with the board's score counts and the
org's statistics, in one transaction conditioned on the entry's previous state: a retried or concurrent
recompute can never count a change twice. Reads merge a board's shards, one query per shard.
"""
from __future__ import annotations

import heapq
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.leaderboards.boards import Entry, rank_key, scope_of_board
from chalicelib.leaderboards.settings import BoardSettings
from chalicelib.leaderboards.models import BoardEntryRecord, BoardScoreRecord, ByRankIndex, OrgStatsRecord
from chalicelib.sharding import shard_of
from chalicelib.storage.ports import ConcurrentUpdate

Change = tuple[Optional[Entry], Optional[Entry]]  # (what the board has, what it should have)
_TRANSACTION_ITEMS = 100


@dataclass(frozen=True)
class OrgStats:
    org_id: str
    learners: int
    points: int
    minutes: int
    parents: tuple[str, ...]


class BoardStore(Protocol):
    def current(self, learner_id: str, boards: Iterable[str]) -> dict[str, Entry]:
        """One learner's entries on several boards, by board."""
    def current_many(self, board: str, learner_ids: Iterable[str]) -> dict[str, Entry]:
        """Several learners' entries on one board, by learner."""
    def apply(self, changes: list[Change], parents: Mapping[str, list[str]]) -> None:
        """All changes once, or ConcurrentUpdate if any entry is no longer what the change expects.
        parents: for each org whose boards change, its ancestor scopes (kept with the org's statistics)."""
    def page(self, board: str, after_rank_key: Optional[str], limit: int) -> list[Entry]: ...
    def above(self, board: str, before_rank_key: str, limit: int) -> list[Entry]:
        """Ranked entries just above a rank key, nearest first."""
    def learners_on(self, board: str) -> list[str]:
        """Every learner with an entry on a board (ranked or not): one query per shard, paginated."""
    def scores(self, board: str) -> Counter:
        """Distinct score -> learners on the board (only scores someone has)."""
    def org_stats(self, period: str) -> list[OrgStats]: ...
    def refresh_parents(self, period: str, org_id: str, parents: list[str]) -> None:
        """Set the ancestors kept with an org's existing statistics of one period (after it moved in the tree)."""


def entry_state(entry: Entry) -> str:
    reached = entry.reached_at.isoformat() if entry.reached_at else ""
    return f"{entry.points}|{entry.minutes}|{reached}"


def entry_rank_key(entry: Entry) -> Optional[str]:
    return rank_key(entry.points, entry.reached_at, entry.learner_id) if entry.ranked else None


def score_moves(old: Optional[Entry], new: Optional[Entry]) -> list[tuple[int, int]]:
    """(points, +1/-1) adjustments to a board's score counts."""
    before = old.points if old and old.ranked else None
    after = new.points if new and new.ranked else None
    if before == after:
        return []
    return [(p, d) for p, d in ((before, -1), (after, +1)) if p is not None]


def org_stat_delta(old: Optional[Entry], new: Optional[Entry]) -> Optional[tuple[str, str, int, int, int]]:
    """(period, org, learners, points, minutes) change for org-scope boards; None otherwise."""
    board = (new or old).board
    scope = scope_of_board(board)
    if scope.kind != "org":
        return None
    delta = ((1 if new else 0) - (1 if old else 0), (new.points if new else 0) - (old.points if old else 0),
             (new.minutes if new else 0) - (old.minutes if old else 0))
    if not any(delta):
        return None
    return (board.split("|", 1)[1], scope.id) + delta


_stats_shard = shard_of  # the org statistics shard; audit/boards.py imports it by this name


class DynamoBoardStore:
    def __init__(self, config: BoardSettings, connection: Optional[Connection] = None):
        self.config = config
        self._connection = connection or Connection(region=settings.REGION)
        self._pool = ThreadPoolExecutor(max_workers=8)  # shard reads go out together

    def _shard_key(self, board: str, learner_id: str) -> str:
        return f"{board}#{shard_of(learner_id, self.config.shards_for(board))}"

    def _shards(self, board: str) -> list[str]:
        return [f"{board}#{n}" for n in range(self.config.shards_for(board))]

    @staticmethod
    def _entry(record: BoardEntryRecord) -> Entry:
        return Entry(record.board_shard.rsplit("#", 1)[0], record.learner_id, record.org_id, int(record.points),
                     int(record.minutes), record.reached_at)

    def current(self, learner_id, boards):
        keys = [(self._shard_key(board, learner_id), learner_id) for board in boards]
        return {entry.board: entry for entry in
                (self._entry(r) for r in BoardEntryRecord.batch_get(keys, consistent_read=True))}

    def current_many(self, board, learner_ids):
        keys = [(self._shard_key(board, learner_id), learner_id) for learner_id in dict.fromkeys(learner_ids)]
        return {r.learner_id: self._entry(r) for r in BoardEntryRecord.batch_get(keys)}

    def apply(self, changes, parents):
        batch, size = [], 0
        for change in changes:
            items = 1 + len(score_moves(*change)) + (1 if org_stat_delta(*change) else 0)
            if size + items > _TRANSACTION_ITEMS:
                self._transact(batch, parents)
                batch, size = [], 0
            batch.append(change)
            size += items
        if batch:
            self._transact(batch, parents)

    def _transact(self, changes: list[Change], parents: list[str]) -> None:
        try:
            with TransactWrite(connection=self._connection) as tx:
                for old, new in changes:
                    self._write_change(tx, old, new, parents)
        except TransactWriteError as exc:
            codes = {r.code for r in (exc.cancellation_reasons or []) if r}
            if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise ConcurrentUpdate("board entry changed meanwhile") from exc
            raise

    def _write_change(self, tx: TransactWrite, old: Optional[Entry], new: Optional[Entry], parents) -> None:
        some = new or old
        shard = self._shard_key(some.board, some.learner_id)
        condition = (BoardEntryRecord.state == entry_state(old) if old
                     else BoardEntryRecord.learner_id.does_not_exist())
        if new:
            tx.save(BoardEntryRecord(shard, new.learner_id, rank_key=entry_rank_key(new), org_id=new.org_id,
                                     points=new.points, minutes=new.minutes, reached_at=new.reached_at,
                                     state=entry_state(new)), condition=condition)
        else:
            tx.delete(BoardEntryRecord(shard, old.learner_id), condition=condition)
        for points, delta in score_moves(old, new):
            tx.update(BoardScoreRecord(shard, points), actions=[BoardScoreRecord.learners.add(delta)])
        stat = org_stat_delta(old, new)
        if stat:
            period, org_id, learners, points, minutes = stat
            tx.update(OrgStatsRecord(f"{period}#{_stats_shard(org_id, self.config.org_stats_shards)}", org_id),
                      actions=[OrgStatsRecord.learners.add(learners), OrgStatsRecord.points.add(points),
                               OrgStatsRecord.minutes.add(minutes), OrgStatsRecord.parents.set(parents[org_id])])

    def _fan_out(self, function, keys):
        return list(self._pool.map(function, keys))

    def page(self, board, after_rank_key, limit):
        def one(shard):
            condition = ByRankIndex.rank_key > after_rank_key if after_rank_key else None
            return [self._entry(r) for r in BoardEntryRecord.by_rank.query(
                shard, range_key_condition=condition, limit=limit, page_size=limit)]
        merged = heapq.merge(*self._fan_out(one, self._shards(board)), key=entry_rank_key)
        return [entry for _, entry in zip(range(limit), merged)]

    def above(self, board, before_rank_key, limit):
        def one(shard):
            return [self._entry(r) for r in BoardEntryRecord.by_rank.query(
                shard, range_key_condition=ByRankIndex.rank_key < before_rank_key, scan_index_forward=False,
                limit=limit, page_size=limit)]
        merged = heapq.merge(*self._fan_out(one, self._shards(board)), key=entry_rank_key, reverse=True)
        return [entry for _, entry in zip(range(limit), merged)]

    def learners_on(self, board):
        return [r.learner_id for rows in self._fan_out(
            lambda shard: list(BoardEntryRecord.query(shard, attributes_to_get=["learner_id"])), self._shards(board))
            for r in rows]

    def scores(self, board):
        counts = Counter()
        for rows in self._fan_out(lambda shard: list(BoardScoreRecord.query(shard)), self._shards(board)):
            for row in rows:
                counts[int(row.points)] += int(row.learners)
        return +counts  # drop scores nobody has any more

    def refresh_parents(self, period, org_id, parents):
        try:
            OrgStatsRecord(f"{period}#{_stats_shard(org_id, self.config.org_stats_shards)}", org_id).update(
                actions=[OrgStatsRecord.parents.set(parents)], condition=OrgStatsRecord.org_id.exists())
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise  # no statistics for that period: nothing to refresh

    def org_stats(self, period):
        shards = [f"{period}#{n}" for n in range(self.config.org_stats_shards)]
        return [OrgStats(r.org_id, int(r.learners), int(r.points), int(r.minutes), tuple(r.parents or ()))
                for rows in self._fan_out(lambda key: list(OrgStatsRecord.query(key)), shards) for r in rows]


class MemoryBoardStore:
    def __init__(self, config: BoardSettings):
        self.config = config
        self.entries: dict[tuple[str, str], Entry] = {}
        self.counts: dict[str, Counter] = {}
        self.stats: dict[tuple[str, str], OrgStats] = {}

    def current(self, learner_id, boards):
        return {b: self.entries[(b, learner_id)] for b in boards if (b, learner_id) in self.entries}

    def current_many(self, board, learner_ids):
        return {i: self.entries[(board, i)] for i in learner_ids if (board, i) in self.entries}

    def apply(self, changes, parents):
        for old, new in changes:  # check every condition first: all or nothing, like the transaction
            some = new or old
            if self.entries.get((some.board, some.learner_id)) != old:
                raise ConcurrentUpdate("board entry changed meanwhile")
        for old, new in changes:
            some = new or old
            if new:
                self.entries[(new.board, new.learner_id)] = new
            else:
                del self.entries[(old.board, old.learner_id)]
            for points, delta in score_moves(old, new):
                self.counts.setdefault(some.board, Counter())[points] += delta
            stat = org_stat_delta(old, new)
            if stat:
                period, org_id, learners, points, minutes = stat
                was = self.stats.get((period, org_id), OrgStats(org_id, 0, 0, 0, ()))
                self.stats[(period, org_id)] = OrgStats(org_id, was.learners + learners, was.points + points,
                                                        was.minutes + minutes, tuple(parents[org_id]))

    def _ranked(self, board: str) -> list[Entry]:
        return sorted((e for (b, _), e in self.entries.items() if b == board and e.ranked), key=entry_rank_key)

    def page(self, board, after_rank_key, limit):
        return [e for e in self._ranked(board) if not after_rank_key or entry_rank_key(e) > after_rank_key][:limit]

    def above(self, board, before_rank_key, limit):
        return [e for e in reversed(self._ranked(board)) if entry_rank_key(e) < before_rank_key][:limit]

    def learners_on(self, board):
        return [learner for (b, learner) in self.entries if b == board]

    def scores(self, board):
        return +self.counts.get(board, Counter())

    def refresh_parents(self, period, org_id, parents):
        was = self.stats.get((period, org_id))
        if was is not None:
            self.stats[(period, org_id)] = OrgStats(org_id, was.learners, was.points, was.minutes, tuple(parents))

    def org_stats(self, period):
        return [s for (p, _), s in self.stats.items() if p == period]
