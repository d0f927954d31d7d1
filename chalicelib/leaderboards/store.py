"""Leaderboard storage: DynamoDB adapter and its in-memory twin.

A learner's path writes only the learner's own entries: each change is one conditional Put or Delete on the
entry's previous state (a retried or concurrent recompute can never apply a change twice; a failed condition is
ConcurrentUpdate and the projection re-reads). No item is shared with another learner's writes, so nothing
there can be cancelled by someone else's.

What entries add up to (each board's score histogram and materialised top, each org's statistics) is folded from
the entries' DynamoDB stream (NEW_AND_OLD_IMAGES), a batch at a time (`fold`, called by the stream handler,
leaderboards/stream.py): one single-item conditional update per board and per org statistic. Exactly once: a
board shard's records reach the stream in order and one consumer at a time, so each aggregate keeps, per source
board shard n, the last sequence number it applied (q<n>) and applies only newer records (docs/leaderboards.md).
The memory store applies the same folds synchronously (its stream is a function call).
"""
from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Protocol

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib import settings
from chalicelib.leaderboards.boards import (Entry, fold_scores, fold_stats, org_stat_delta, rank_key, scope_of_board,
                                            score_moves, touches_top)
from chalicelib.leaderboards.settings import BoardSettings
from chalicelib.leaderboards.models import BoardEntryRecord, BoardSummaryRecord, ByRankIndex, OrgStatsRecord
from chalicelib.sharding import shard_of
from chalicelib.storage.ports import ConcurrentUpdate

__all__ = ["score_moves", "org_stat_delta"]  # re-exported (pure, leaderboards/boards.py)

Change = tuple[Optional[Entry], Optional[Entry]]  # (what the board has, what it should have)
_GUARD_ATTEMPTS = 8
_SEQUENCE_WIDTH = 40  # stream sequence numbers are decimal strings; padded, they compare as strings


@dataclass(frozen=True)
class OrgStats:
    org_id: str
    learners: int
    points: int
    minutes: int
    parents: tuple[str, ...]


@dataclass(frozen=True)
class StreamChange:
    """One entry change as the stream delivered it: from board shard `shard` (its number), at `sequence`."""
    shard: int
    sequence: str
    old: Optional[Entry]
    new: Optional[Entry]
    parents: tuple[str, ...] = ()


class BoardStore(Protocol):
    config: BoardSettings

    def current(self, learner_id: str, boards: Iterable[str]) -> dict[str, Entry]:
        """One learner's entries on several boards, by board."""
    def current_many(self, board: str, learner_ids: Iterable[str]) -> dict[str, Entry]:
        """Several learners' entries on one board, by learner."""
    def apply(self, changes: list[Change], parents: Mapping[str, list[str]]) -> None:
        """Each change once, or ConcurrentUpdate if some entry is no longer what its change expects (the others
        may have applied: the caller re-reads and goes on). parents: for each org whose boards change, its
        ancestor scopes (kept with the org's statistics)."""
    def page(self, board: str, after_rank_key: Optional[str], limit: int) -> list[Entry]: ...
    def page_and_scores(self, board: str, after_rank_key: Optional[str], limit: int,
                        boards: Iterable[str]) -> tuple[list[Entry], dict[str, Counter]]:
        """A page of `board` and the histograms of `boards`: one read when the page lies in the board's top."""
    def above(self, board: str, before_rank_key: str, limit: int) -> list[Entry]:
        """Ranked entries just above a rank key, nearest first."""
    def learners_on(self, board: str) -> list[str]:
        """Every learner with an entry on a board (ranked or not): one query per shard, paginated."""
    def scores(self, board: str) -> Counter:
        """Distinct score -> learners on the board (only scores someone has)."""
    def scores_of(self, boards: Iterable[str]) -> dict[str, Counter]:
        """scores() of several boards in one batch read."""
    def org_stats(self, period: str) -> list[OrgStats]: ...
    def refresh_parents(self, period: str, org_id: str, parents: list[str]) -> None:
        """Set the ancestors kept with an org's existing statistics of one period (after it moved in the tree)."""


def entry_state(entry: Entry) -> str:
    reached = entry.reached_at.isoformat() if entry.reached_at else ""
    return f"{entry.points}|{entry.minutes}|{reached}"


def entry_rank_key(entry: Entry) -> Optional[str]:
    return rank_key(entry.points, entry.reached_at, entry.learner_id) if entry.ranked else None  # type: ignore[arg-type]


def top_line(entry: Entry) -> str:
    """An entry of a materialised top: "<rank key>|<org>|<minutes>" (the rank key holds points, time and id)."""
    return f"{entry_rank_key(entry)}|{entry.org_id or ''}|{entry.minutes}"


def entry_of_top_line(board: str, line: str) -> Entry:
    from datetime import datetime, timezone
    key, org_id, minutes = line.rsplit("|", 2)
    inverted, reached, learner_id = key.split("|", 2)
    points = 10 ** 10 - int(inverted)
    at = datetime.strptime(reached, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=timezone.utc)
    return Entry(board, learner_id, org_id or None, points, int(minutes), at)


def histogram_of(item: Mapping[str, Any]) -> Counter:
    """The score histogram of a summary item (low-level attribute values)."""
    return +Counter({int(name[1:]): int(value["N"]) for name, value in item.items()
                     if name[:1] == "s" and name[1:].isdigit()})


def padded(sequence: str) -> str:
    return sequence.zfill(_SEQUENCE_WIDTH)


_stats_shard = shard_of  # the org statistics shard; audit/boards.py imports it by this name


def stats_key(period: str, org_id: str, config: BoardSettings) -> dict:
    return {"period_shard": {"S": f"{period}#{_stats_shard(org_id, config.org_stats_shards)}"}, "org_id": {"S": org_id}}


def _together(pool: ThreadPoolExecutor, function, items) -> list:
    """function(item) for every item at once; every call has ended before this returns or raises (a write
    still in flight after its caller gave up could land after the retry's)."""
    futures = [pool.submit(function, item) for item in items]
    wait(futures)
    return [f.result() for f in futures]  # raises the first failure, all of them finished


def _rank_keys(changes: Iterable[StreamChange]) -> list[Optional[str]]:
    """The rank keys the changes leave and take (None for an unranked side)."""
    return [entry_rank_key(e) if e else None for c in changes for e in (c.old, c.new)]


def _condition_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause", None) or exc
    code = getattr(exc, "cause_response_code", None)
    if code is None and isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


class DynamoBoardStore:
    def __init__(self, config: BoardSettings, connection: Optional[Connection] = None):
        self.config = config
        self._connection = connection or Connection(region=settings.REGION)
        self._pool = ThreadPoolExecutor(max_workers=8)  # shard reads and entry writes go out together
        self._fold_pool = ThreadPoolExecutor(max_workers=8)  # a batch's aggregates (each may read shards: own pool)

    # --- the learner's path --------------------------------------------------------------------------------

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
        outcomes = _together(self._pool, lambda change: self._write_change(*change, parents), changes)
        if not all(outcomes):
            raise ConcurrentUpdate("board entry changed meanwhile")

    def _write_change(self, old: Optional[Entry], new: Optional[Entry], parents) -> bool:
        """One entry, conditioned on its previous state. False when that condition failed."""
        some = new or old
        assert some is not None
        shard = self._shard_key(some.board, some.learner_id)
        condition = (BoardEntryRecord.state == entry_state(old) if old
                     else BoardEntryRecord.learner_id.does_not_exist())
        scope = scope_of_board(some.board)
        try:
            if new:
                BoardEntryRecord(shard, new.learner_id, rank_key=entry_rank_key(new), org_id=new.org_id,
                                 points=new.points, minutes=new.minutes, reached_at=new.reached_at,
                                 state=entry_state(new),
                                 parents=list(parents.get(scope.id, [])) if scope.kind == "org" else None,
                                 ).save(condition=condition)
            else:
                BoardEntryRecord(shard, some.learner_id).delete(condition=condition)
        except (PutError, DeleteError) as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    # --- the stream's fold: one writer per batch --------------------------------------------------------------

    @property
    def _client(self):
        return BoardSummaryRecord._get_connection().connection.client

    def fold(self, changes: list[StreamChange]) -> None:
        """Fold a batch of the entries' stream into the boards' summaries and the orgs' statistics."""
        by_board: dict[str, list[StreamChange]] = defaultdict(list)
        by_stat: dict[tuple[str, str], list[StreamChange]] = defaultdict(list)
        for change in changes:
            some = change.new or change.old
            assert some is not None
            by_board[some.board].append(change)
            scope = scope_of_board(some.board)
            if scope.kind == "org":
                by_stat[(some.board.split("|", 1)[1], str(scope.id))].append(change)
        jobs: list[tuple[Any, Any, list[StreamChange]]] = [(self._fold_board, b, found) for b, found in by_board.items()]
        jobs += [(self._fold_stat, key, found) for key, found in by_stat.items()]
        _together(self._fold_pool, lambda job: job[0](job[1], job[2]), jobs)

    def _guarded_update(self, table: str, key: dict, changes: list[StreamChange], build, return_values="NONE"):
        """One update of one aggregate with what `changes` add to it, each change applied once: conditioned on
        the sequence numbers last applied from each source board shard (q<n>), refreshed on a failed condition
        (a retried batch) to apply only the newer records. None when there is nothing left to apply."""
        known: Optional[dict] = None
        pending = changes
        for _ in range(_GUARD_ATTEMPTS):
            if known is not None:
                pending = [c for c in changes
                           if padded(c.sequence) > known.get(f"q{c.shard}", {}).get("S", "")]
            expression = build(pending)
            if expression is None:
                return None
            updates, names, values = expression
            conditions, sets = [], []
            for n in sorted({c.shard for c in pending}):
                mine = [padded(c.sequence) for c in pending if c.shard == n]
                names[f"#q{n}"] = f"q{n}"
                values[f":l{n}"] = {"S": max(mine)}
                sets.append(f"#q{n} = :l{n}")
                if known is None or f"q{n}" not in known:
                    values[f":f{n}"] = {"S": min(mine)}
                    conditions.append(f"(attribute_not_exists(#q{n}) OR #q{n} < :f{n})")
                else:
                    values[f":k{n}"] = known[f"q{n}"]
                    conditions.append(f"#q{n} = :k{n}")
            clauses = [f"SET {', '.join(sets + updates.get('SET', []))}"]
            if updates.get("ADD"):
                clauses.append(f"ADD {', '.join(updates['ADD'])}")
            try:
                return self._client.update_item(
                    TableName=table, Key=key, UpdateExpression=" ".join(clauses),
                    ConditionExpression=" AND ".join(conditions), ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values, ReturnValues=return_values)
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
                known = self._client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
        raise ConcurrentUpdate(f"aggregate {key} kept changing")

    def _fold_board(self, board: str, changes: list[StreamChange]) -> None:
        def build(pending):
            delta = fold_scores((c.old, c.new) for c in pending)
            if not delta and not any(_rank_keys(pending)):
                return None  # minutes alone: nothing a board shows
            names = {f"#s{p}": f"s{p}" for p in delta}
            values = {f":s{p}": {"N": str(d)} for p, d in delta.items()}
            return {"ADD": [f"#s{p} :s{p}" for p in delta]}, names, values
        result = self._guarded_update(BoardSummaryRecord.Meta.table_name, {"summary": {"S": board}}, changes,
                                      build, return_values="ALL_NEW")
        if result is None:
            return
        summary = result.get("Attributes", {})
        keys = _rank_keys(changes)
        # A board of one shard reads its first page with one index query anyway: only merged boards keep a top.
        if self.config.shards_for(board) > 1 and touches_top(keys, summary.get("cut", {}).get("S")):
            self.refresh_top(board, summary.get("top_hash", {}).get("S"))

    def refresh_top(self, board: str, kept: Optional[str] = None) -> None:
        """Read the board's first entries from the by_rank index (consistent reads) and keep them, unless they
        are what is kept already (`kept`: the digest the summary holds) or a read made later has been kept."""
        import hashlib
        at = time.time()
        entries = self.index_page(board, None, self.config.top_size, consistent=True)
        lines = [top_line(e) for e in entries]
        digest = hashlib.sha1("\n".join(lines).encode()).hexdigest()[:16]
        if digest == kept:
            return
        cut = entry_rank_key(entries[-1]) if len(entries) >= self.config.top_size else ""
        names, values = {"#at": "top_at"}, {":at": {"N": repr(at)}}
        try:
            self._client.put_item(
                TableName=BoardSummaryRecord.Meta.table_name,
                Item={"summary": {"S": f"{board}#top"}, "top": {"L": [{"S": line} for line in lines]},
                      "top_at": {"N": repr(at)}},
                ConditionExpression="attribute_not_exists(#at) OR #at < :at", ExpressionAttributeNames=names,
                ExpressionAttributeValues=values)
            self._client.update_item(
                TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": board}},
                UpdateExpression="SET #cut = :cut, #at = :at, #digest = :digest",
                ConditionExpression="attribute_not_exists(#at) OR #at < :at",
                ExpressionAttributeNames={**names, "#cut": "cut", "#digest": "top_hash"},
                ExpressionAttributeValues={**values, ":cut": {"S": cut}, ":digest": {"S": digest}})
        except ClientError as exc:
            if not _condition_failed(exc):
                raise  # else a later read is kept already

    def _fold_stat(self, key: tuple[str, str], changes: list[StreamChange]) -> None:
        period, org_id = key
        # The org's ancestors as the latest write of the batch knew them (a removal's old image may hold older ones).
        parents = next((c.parents for c in reversed(changes) if c.new is not None), None)

        def build(pending):
            if not pending:
                return None
            learners, points, minutes = fold_stats((c.old, c.new) for c in pending)
            names = {"#l": "learners", "#p": "points", "#m": "minutes"}
            values = {":l": {"N": str(learners)}, ":p": {"N": str(points)}, ":m": {"N": str(minutes)}}
            if parents is None:
                return {"ADD": ["#l :l", "#p :p", "#m :m"]}, names, values
            names["#parents"], values[":parents"] = "parents", {"L": [{"S": p} for p in parents]}
            return {"ADD": ["#l :l", "#p :p", "#m :m"], "SET": ["#parents = :parents"]}, names, values
        self._guarded_update(OrgStatsRecord.Meta.table_name, stats_key(period, org_id, self.config), changes, build)

    # --- reads ---------------------------------------------------------------------------------------------

    def _fan_out(self, function, keys):
        return _together(self._pool, function, keys)

    def index_page(self, board, after_rank_key, limit, consistent=False):
        def one(shard):
            condition = ByRankIndex.rank_key > after_rank_key if after_rank_key else None
            return [self._entry(r) for r in BoardEntryRecord.by_rank.query(
                shard, range_key_condition=condition, limit=limit, page_size=limit, consistent_read=consistent)]
        merged = heapq.merge(*self._fan_out(one, self._shards(board)), key=entry_rank_key)
        return [entry for _, entry in zip(range(limit), merged)]

    def _batch_summaries(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 100):
            wanted = {BoardSummaryRecord.Meta.table_name: {"Keys": [{"summary": {"S": k}}
                                                                    for k in dict.fromkeys(keys[start:start + 100])]}}
            while wanted:
                answer = self._client.batch_get_item(RequestItems=wanted)
                for item in answer.get("Responses", {}).get(BoardSummaryRecord.Meta.table_name, []):
                    found[item["summary"]["S"]] = item
                wanted = answer.get("UnprocessedKeys") or {}
        return found

    def _from_top(self, board: str, item: Optional[dict], after_rank_key, limit) -> Optional[list[Entry]]:
        """The page from the materialised top, or None when the top does not hold all of it (a top with fewer
        entries than the configured size holds the whole board)."""
        if item is None:
            return None
        lines = [v["S"] for v in item.get("top", {}).get("L", [])]
        entries = [entry_of_top_line(board, line) for line in lines]
        rest = [e for e in entries if not after_rank_key or (entry_rank_key(e) or "") > after_rank_key]
        whole = len(lines) < self.config.top_size
        if len(rest) >= limit or whole:
            return rest[:limit]
        return None

    def page(self, board, after_rank_key, limit):
        return self.page_and_scores(board, after_rank_key, limit, ())[0]

    def page_and_scores(self, board, after_rank_key, limit, boards):
        boards = list(boards)
        items = self._batch_summaries([f"{board}#top"] + boards)
        entries = self._from_top(board, items.get(f"{board}#top"), after_rank_key, limit)
        if entries is None:
            entries = self.index_page(board, after_rank_key, limit)
        return entries, {b: histogram_of(items.get(b, {})) for b in boards}

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
        item = self._client.get_item(TableName=BoardSummaryRecord.Meta.table_name, Key={"summary": {"S": board}})
        return histogram_of(item.get("Item", {}))

    def scores_of(self, boards):
        boards = list(boards)
        items = self._batch_summaries(boards) if boards else {}
        return {b: histogram_of(items.get(b, {})) for b in boards}

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
    """The same behaviour in memory: each change applied as DynamoDB applies it, and folded at once (the
    stream's consumer, without the stream)."""

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
        refused = False
        for old, new in changes:  # each on its own, as the conditional writes
            some = new or old
            if self.entries.get((some.board, some.learner_id)) != old:
                refused = True
                continue
            if new:
                self.entries[(new.board, new.learner_id)] = new
            else:
                del self.entries[(old.board, old.learner_id)]
            self._fold(old, new, parents)
        if refused:
            raise ConcurrentUpdate("board entry changed meanwhile")

    def _fold(self, old, new, parents) -> None:
        """As DynamoBoardStore.fold would fold this change: the histogram move, and for an org board the
        statistics delta with the ancestors the written entry carries (a removal keeps those kept)."""
        some = new or old
        for points, delta in score_moves(old, new):
            self.counts.setdefault(some.board, Counter())[points] += delta
        scope = scope_of_board(some.board)
        if scope.kind != "org":
            return
        key = (some.board.split("|", 1)[1], str(scope.id))
        stat = org_stat_delta(old, new)
        if stat is None and key not in self.stats:
            return
        learners, points, minutes = stat[2:] if stat else (0, 0, 0)
        was = self.stats.get(key, OrgStats(key[1], 0, 0, 0, ()))
        kept = tuple(parents.get(key[1], ())) if new is not None else was.parents
        self.stats[key] = OrgStats(key[1], was.learners + learners, was.points + points, was.minutes + minutes, kept)

    def _ranked(self, board: str) -> list[Entry]:
        return sorted((e for (b, _), e in self.entries.items() if b == board and e.ranked), key=entry_rank_key)

    def page(self, board, after_rank_key, limit):
        return [e for e in self._ranked(board) if not after_rank_key or entry_rank_key(e) > after_rank_key][:limit]

    def page_and_scores(self, board, after_rank_key, limit, boards):
        return self.page(board, after_rank_key, limit), self.scores_of(boards)

    def above(self, board, before_rank_key, limit):
        return [e for e in reversed(self._ranked(board)) if entry_rank_key(e) < before_rank_key][:limit]

    def learners_on(self, board):
        return [learner for (b, learner) in self.entries if b == board]

    def scores(self, board):
        return +self.counts.get(board, Counter())

    def scores_of(self, boards):
        return {b: self.scores(b) for b in boards}

    def refresh_parents(self, period, org_id, parents):
        was = self.stats.get((period, org_id))
        if was is not None:
            self.stats[(period, org_id)] = OrgStats(org_id, was.learners, was.points, was.minutes, tuple(parents))

    def org_stats(self, period):
        return [s for (p, _), s in self.stats.items() if p == period]
