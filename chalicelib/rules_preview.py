"""What applying a rule version would do, computed from the stored events without writing anything.

`preview(adapters, candidate)` streams the learners table segment by segment and page by page (never the
table in memory), and for each learner active since the version takes effect loads the same Snapshot scoring
loads and computes it under the candidate book (scoring/compute.py, pure). It compares the result with the
stored standing (what the learner sees today) and keeps only bounded aggregates: counts, the largest gains and
losses (a heap of `top`), per-org and per-badge counters, and per board a counter of (score before, score after)
pairs, from which the rank movements on the national and ministry boards of the current month are worked out at
the end with the boards' stored score counts. `sample=n` looks at one learner in n (by a hash of the id) and
says so; figures that cannot be scaled (ranks) are then left out.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right
import time
from collections import Counter
from datetime import datetime
from typing import Callable, Optional

from chalicelib.rules.config import RuleBook, RuleVersion
from chalicelib.rules.periods import month_of, utc_iso

TOP = 10


def _rank(score: int, ascending: list[int]) -> Optional[int]:
    """Dense rank of `score` among a board's distinct scores (ascending): 1 + how many are higher."""
    if score <= 0:
        return None
    return len(ascending) - bisect_right(ascending, score) + 1


class _Board:
    """Score moves on one board: (before, after) -> learners, bounded by the distinct pairs."""

    def __init__(self) -> None:
        self.moves: Counter = Counter()

    def add(self, before: int, after: int) -> None:
        if before != after:
            self.moves[(before, after)] += 1

    def movements(self, counts: Counter) -> dict:
        """Learners whose dense rank changes, movers and bystanders alike, from the stored score counts."""
        after_counts = Counter(counts)
        for (before, after), n in self.moves.items():
            after_counts[before] -= n
            after_counts[after] += n
        ranks_before = sorted(s for s, n in counts.items() if n > 0 and s > 0)
        ranks_after = sorted(s for s, n in after_counts.items() if n > 0 and s > 0)
        moved = sum(n for (b, a), n in self.moves.items() if _rank(b, ranks_before) != _rank(a, ranks_after))
        stayed = Counter(counts)
        for (before, _), n in self.moves.items():
            stayed[before] -= n
        bystanders = sum(n for s, n in stayed.items()
                         if n > 0 and s > 0 and _rank(s, ranks_before) != _rank(s, ranks_after))
        return {"learners_on_board": sum(n for s, n in counts.items() if s > 0), "rank_changes": moved + bystanders,
                "movers": sum(self.moves.values()), "movers_whose_rank_changes": moved,
                "others_whose_rank_changes": bystanders}


def preview(adapters, candidate: RuleBook, version: RuleVersion, now: datetime, segments: int = 4,
            sample: int = 1, top: int = TOP, page: int = 100,
            out_of_time: Callable[[], bool] = lambda: False) -> dict:
    """The impact of scoring with `candidate` (which holds `version`) instead of what is stored. Reads only."""
    from chalicelib.leaderboards.boards import NATIONAL, board_key
    from chalicelib.leaderboards.projection import scopes_of
    from chalicelib.scoring.compute import compute
    from chalicelib.scoring.pipeline import load
    from chalicelib.sharding import shard_of

    started = time.monotonic()
    since = version.effective_from
    month = f"month:{month_of(now, candidate.current(now).rules.timezone)}"
    national = board_key(NATIONAL, month)
    boards: dict[str, _Board] = {}
    gains: list = []
    losses: list = []
    by_org: dict[str, Counter] = {}
    badges_gained: Counter = Counter()
    badges_kept: Counter = Counter()
    totals: Counter = Counter()
    complete = True
    for segment in range(segments):
        after_key: Optional[str] = None
        while True:
            if out_of_time():
                complete = False
                break
            rows, after_key = adapters.learners.scan_page(segment, segments, after_key, page)
            for learner_id, org_id, last_active_at in rows:
                totals["learners_scanned"] += 1
                if not last_active_at or last_active_at < since:
                    continue
                if sample > 1 and shard_of(learner_id, sample) != 0:
                    continue
                totals["learners_looked_at"] += 1
                snapshot = load(learner_id, adapters, from_scratch=True)
                stored = snapshot.stored
                if stored is None:
                    continue
                scored = compute(snapshot, candidate, ())
                before, after = stored.standing, scored.standing
                corrections = [e for e in scored.entries if e.rules_version == version.id]
                totals["ledger_lines"] += len(corrections)
                gained = set(after.badges) - set(before.badges)
                badges_gained.update(gained)
                badges_kept.update(scored.kept_badges)
                delta = after.points - before.points
                if delta == 0 and not gained and not corrections:
                    continue
                totals["learners_changed"] += 1
                totals["points_delta"] += delta
                totals["gainers" if delta > 0 else "losers" if delta < 0 else "unchanged_points"] += 1
                org = by_org.setdefault(org_id or "-", Counter())
                org["learners"] += 1
                org["points_delta"] += delta
                scopes = scopes_of(after.profile.org_id, adapters)
                periods = {p for p in set(before.points_by_period) | set(after.points_by_period)
                           if before.points_by_period.get(p, 0) != after.points_by_period.get(p, 0)}
                totals["board_entries_changed"] += len(periods) * len(scopes)
                m_before, m_after = before.points_by_period.get(month, 0), after.points_by_period.get(month, 0)
                ministry = next((board_key(s, month) for s in scopes if s.kind == "ministry"), None)
                for key in (national, ministry):
                    if key:
                        boards.setdefault(key, _Board()).add(m_before, m_after)
                row = (delta, learner_id, org_id, before.points, after.points, m_before, m_after, ministry)
                if delta > 0:
                    (heapq.heappush if len(gains) < top else heapq.heappushpop)(gains, row)
                elif delta < 0:
                    neg = (-delta,) + row[1:]
                    (heapq.heappush if len(losses) < top else heapq.heappushpop)(losses, neg)
            if after_key is None:
                break
        if not complete:
            break

    sampled = sample > 1
    rank_rows: dict[str, dict] = {}
    ranks_by_board: dict[str, tuple[list[int], list[int]]] = {}
    if not sampled:
        for key, board in boards.items():
            counts = adapters.boards.scores(key)
            rank_rows[key] = board.movements(counts)
            after_counts = Counter(counts)
            for (b, a), n in board.moves.items():
                after_counts[b] -= n
                after_counts[a] += n
            ranks_by_board[key] = (sorted(s for s, n in counts.items() if n > 0 and s > 0),
                                   sorted(s for s, n in after_counts.items() if n > 0 and s > 0))

    def person(row, sign: int) -> dict:
        delta, learner_id, org_id, p_before, p_after, m_before, m_after, ministry = row
        out = {"learner_id": learner_id, "org_id": org_id, "points_before": p_before, "points_after": p_after,
               "change": sign * delta}
        for name, key in (("national", national), ("ministry", ministry)):
            if key in ranks_by_board:
                higher_before, higher_after = ranks_by_board[key]
                out[f"{name}_rank_{month}"] = [_rank(m_before, higher_before), _rank(m_after, higher_after)]
        return out

    national_moves = rank_rows.pop(national, None)
    ministry_moves = {key.split("|")[0]: row for key, row in sorted(rank_rows.items())}
    reads = totals["learners_looked_at"]
    return {
        "version": version.id, "effective_from": utc_iso(version.effective_from), "reason": version.reason,
        "complete": complete, "sampled": f"1 learner in {sample}" if sampled else "no: every learner active since "
                                                                                   "the version took effect",
        "scale": sample, "learners_scanned": totals["learners_scanned"], "learners_looked_at": reads,
        "learners_whose_points_change": totals["gainers"] + totals["losers"],
        "learners_changed": totals["learners_changed"], "gainers": totals["gainers"], "losers": totals["losers"],
        "points_delta": totals["points_delta"],
        "largest_gains": [person(r, 1) for r in sorted(gains, reverse=True)],
        "largest_losses": [person(r, -1) for r in sorted(losses, reverse=True)],
        "by_org": {org: dict(c) for org, c in sorted(by_org.items(), key=lambda kv: -kv[1]["learners"])[:50]},
        "orgs_affected": len(by_org),
        "badges_gained": dict(badges_gained), "badges_not_earned_but_kept": dict(badges_kept),
        "rank_movements": None if sampled else {"period": month, "national": national_moves,
                                                "ministry": ministry_moves},
        "cost_of_applying": {
            "learners_to_rescore": reads * sample, "ledger_lines": totals["ledger_lines"] * sample,
            "board_entries_changed": totals["board_entries_changed"] * sample,
            "learners_told": totals["gainers"] * sample + totals["losers"] * sample,
            "note": "the apply job re-scores every learner active since effective_from (make rules-apply); "
                    "per-learner measured costs: docs/rule-versions.md"},
        "seconds": round(time.monotonic() - started, 2),
    }


# --- the national-admin routes (app.py): POST /v1/admin/rules/preview and /v1/admin/rules/apply ------------------

ROUTE_SECONDS = 20  # API Gateway answers within 29 s: a preview that needs longer says it is incomplete
MAX_SAMPLE = 10_000


def _version_of(body: dict, adapters, allow_text: bool):
    from chalicelib.errors import bad_request
    from chalicelib.rules.config import RuleVersionError, as_book, candidate_version
    book = as_book(adapters.rules, adapters.catalogue)
    if allow_text and isinstance(body.get("toml"), str):
        try:
            version = candidate_version(book, body["toml"])
        except (RuleVersionError, ValueError) as exc:
            raise bad_request("toml", str(exc)) from None
        return book.with_version(version), version
    version_id = body.get("version")
    if not isinstance(version_id, str) or book.get(version_id) is None:
        raise bad_request("version", "must name a rule version of the deployed book: "
                          + ", ".join(v.id for v in book.versions)
                          + (" (or give a candidate version file as toml)" if allow_text else ""))
    return book, book.get(version_id)


def preview_request(raw_body, principal, adapters, now: datetime) -> dict:
    """A national admin's preview: {"version": id} or {"toml": candidate file text}, "sample": N (default 1)."""
    from chalicelib.errors import bad_request, json_object
    from chalicelib.identity.access import require_national_admin
    require_national_admin(principal)
    body = json_object(raw_body)
    sample = body.get("sample", 1)
    if not isinstance(sample, int) or isinstance(sample, bool) or not 1 <= sample <= MAX_SAMPLE:
        raise bad_request("sample", f"must be a whole number from 1 (every learner) to {MAX_SAMPLE}")
    book, version = _version_of(body, adapters, allow_text=True)
    deadline = time.monotonic() + ROUTE_SECONDS
    return preview(adapters, book, version, now, sample=sample, out_of_time=lambda: time.monotonic() > deadline)


def apply_request(raw_body, principal, adapters, log) -> dict:
    """A national admin applies a deployed version: the re-score job's segments go on the audit queue."""
    from chalicelib import rescore
    from chalicelib.errors import json_object
    from chalicelib.identity.access import require_national_admin
    require_national_admin(principal)
    _, version = _version_of(json_object(raw_body), adapters, allow_text=False)
    return rescore.start(adapters, rescore.rules_target(version.id, version.effective_from), log)
