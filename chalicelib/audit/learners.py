"""Auditor of learners: each stored learner against the pure fold of their stored events.

Checks the standing (totals, streaks, badges), the ledger (what the rules say each event earns against what is
recorded) and the learner's board entries (one batch read). Read-only; its repair re-runs the normal recompute
(scoring/pipeline.py), then puts right any board entry that recompute found no reason to touch.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Iterable

from chalicelib.audit import Difference
from chalicelib.leaderboards.projection import MEMBERS, entries_wanted, scopes_of
from chalicelib.leaderboards.boards import board_key, parse_scope, shard_of
from chalicelib.scoring.compute import compute, persisted
from chalicelib.scoring.pipeline import load, recompute_stream
from chalicelib.storage.models import LearnerRecord

PAGE = 100
# LearnerStanding fields by the kind of difference they make (the rest: learner-total).
KINDS = {"badges": "badge", "clap_weeks": "streak", "best_clap_streak": "streak", "profile": "profile"}
SKIPPED = {"ledger", "week_minutes", "learner_id"}  # not stored on the learner


def _plain(value: Any) -> Any:
    """JSON-safe, for a report that is logged (never a profile: see check())."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    return value


def expected_state(learner_id: str, adapters):
    """(expected standing, ledger entries still to append) for one learner: the same snapshot and the same
    computation as scoring (scoring/pipeline.py load, scoring/compute.py compute). Reads only."""
    scored = compute(load(learner_id, adapters, from_scratch=True), adapters.rules, adapters.catalogue)
    return scored.standing, scored.entries


def _entry_state(entry) -> Any:
    return None if entry is None else [entry.points, entry.minutes, _plain(entry.reached_at), entry.org_id]


class LearnerAuditor:
    name = "learners"

    def scan(self, segment: int, segments: int) -> Iterable[str]:
        for record in LearnerRecord.scan(segment=segment, total_segments=segments, page_size=PAGE,
                                         attributes_to_get=["learner_id"]):
            yield record.learner_id

    def _boards(self, learner_id: str, stored, standing, adapters):
        scopes = scopes_of(standing.profile.org_id, adapters)
        desired = entries_wanted(standing, scopes)
        periods = set(standing.points_by_period) | set(standing.minutes_by_period) \
            | set(stored.standing.points_by_period) | set(stored.standing.minutes_by_period) | {MEMBERS}
        every_scope = set(scopes) | {parse_scope(key) for key in stored.scopes}
        candidates = set(desired) | {board_key(s, p) for s in every_scope for p in periods}
        current = adapters.boards.current(learner_id, candidates)
        return scopes, [Difference("board-entry", f"{board}|{learner_id}", _entry_state(current.get(board)),
                                   _entry_state(desired.get(board)))
                        for board in sorted(candidates) if current.get(board) != desired.get(board)]

    def check(self, learner_id: str, adapters) -> list[Difference]:
        stored = adapters.learners.get(learner_id)
        if stored is None:  # deleted between the scan and the read
            return []
        standing, missing = expected_state(learner_id, adapters)
        found = []
        expected, live = persisted(standing), stored.standing
        by_kind: dict[str, tuple[dict, dict]] = {}
        for f in dataclasses.fields(expected):
            if f.name in SKIPPED or getattr(expected, f.name) == getattr(live, f.name):
                continue
            kind = KINDS.get(f.name, "learner-total")
            pair = by_kind.setdefault(kind, ({}, {}))
            # Profiles hold personal data: name the difference, never the values.
            pair[0][f.name] = "…" if kind == "profile" else _plain(getattr(live, f.name))
            pair[1][f.name] = "…" if kind == "profile" else _plain(getattr(expected, f.name))
        found += [Difference(kind, learner_id, live_part, expected_part)
                  for kind, (live_part, expected_part) in sorted(by_kind.items())]
        if missing:
            found.append(Difference("ledger", learner_id, {"entries_missing": len(missing)},
                                    {"amount_to_record": sum(e.amount for e in missing)}))
        scopes, board_differences = self._boards(learner_id, stored, standing, adapters)
        if tuple(s.key for s in scopes) != tuple(stored.scopes):
            found.append(Difference("learner-scopes", learner_id, list(stored.scopes), [s.key for s in scopes]))
        return found + board_differences

    def repair(self, learner_id: str, differences: list[Difference], adapters) -> None:
        if any(d.kind != "board-entry" for d in differences):
            recompute_stream(f"learner:{learner_id}", adapters, from_scratch=True)  # a checkpoint is derived too
        stored = adapters.learners.get(learner_id)
        standing, _ = expected_state(learner_id, adapters)
        scopes, left = self._boards(learner_id, stored, standing, adapters)
        if left:
            # The recompute writes boards only where the stored standing changed, each change conditioned on the
            # entry's recorded state: an entry changed behind its back is overwritten here with what it should
            # be. The board stream folds the overwrite into the histograms and org statistics like any change
            # (from the entry as it was to the entry as it should be); the board auditors check them next.
            desired = entries_wanted(standing, scopes)
            for d in left:
                overwrite_entry(d.key.rsplit("|", 1)[0], learner_id, desired.get(d.key.rsplit("|", 1)[0]), adapters)


def overwrite_entry(board: str, learner_id: str, entry, adapters) -> None:
    """Put a board entry as it should be (or delete it), unconditionally (the stream folds the difference)."""
    from chalicelib.leaderboards.boards import scope_of_board, scopes_for
    from chalicelib.leaderboards.store import entry_rank_key, entry_state
    from chalicelib.leaderboards.models import BoardEntryRecord
    from chalicelib.orgtree import parent_lookup
    shard = f"{board}#{shard_of(learner_id, adapters.boards.config.shards_for(board))}"
    if entry is None:
        BoardEntryRecord(shard, learner_id).delete()
        return
    scope = scope_of_board(board)
    parents = ([s.key for s in scopes_for(scope.id, parent_lookup(adapters))[1:] if s.kind != "national"]
               if scope.kind == "org" else None)  # carried by the stream to the org's statistics
    BoardEntryRecord(shard, learner_id, rank_key=entry_rank_key(entry), org_id=entry.org_id, points=entry.points,
                     minutes=entry.minutes, reached_at=entry.reached_at, state=entry_state(entry),
                     parents=parents).save()
