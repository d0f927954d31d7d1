"""Leaderboard use cases: keep a learner's entries in line with their standing, and read boards back.

Every read costs a fixed number of requests whatever the population. A first page (within the board's
materialised top) is one batch read of the board's summary items (its top, its histogram and the previous
period's: dense ranks, the total and previous ranks), one batch read of the previous period's entries, one for
names and one for the org names of anonymous rows; deeper pages read the by_rank index, one query per shard.

Names are resolved at read time from the learner records, for the caller (rules/privacy.py): a change of a
learner's leaderboard visibility shows on the next read. Ranks and points are the same whatever is shown.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

from chalicelib.errors import bad_request
from chalicelib.events import ID_PATTERN, is_id
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.leaderboards.boards import (Entry, Scope, board_key, dense_rank, parse_period,
                                            parse_scope, previous_period, size_category)
from chalicelib.rules.learner import LearnerStanding
from chalicelib.rules.periods import ALL_TIME, month_of, period_start, week_of
from chalicelib.rules.privacy import Listing, anonymous_name, shows_name
from chalicelib.leaderboards.projection import MEMBERS, scopes_of  # noqa: F401 (readers of boards use these too)
from chalicelib.leaderboards.store import entry_rank_key
from chalicelib.leaderboards.settings import size_categories_at

BOARD_CURSOR = r"\d{10}\|\d{8}T\d{6}\.\d{6}Z\|" + ID_PATTERN  # a rank key


# --- reading learner boards ------------------------------------------------------------------------------

def resolve_period(text: Optional[str], now: datetime, zone) -> str:
    """'week' and 'month' mean the current ones; otherwise week:YYYY-Www, month:YYYY-MM or all."""
    text = text or ALL_TIME
    if text == "week":
        return f"week:{week_of(now, zone)}"
    if text == "month":
        return f"month:{month_of(now, zone)}"
    try:
        return parse_period(text)
    except ValueError as exc:
        raise bad_request("period", str(exc)) from None


def resolve_scope(text: Optional[str], allowed=("org", "dept", "ministry", "state", "national")) -> Scope:
    if not text:
        raise bad_request("scope", "is required")
    try:
        scope = parse_scope(text)
    except ValueError as exc:
        raise bad_request("scope", str(exc)) from None
    if scope.kind not in allowed:
        raise bad_request("scope", f"must be one of {', '.join(k + (':<id>' if k != 'national' else '') for k in allowed)}")
    return scope


class _Ranker:
    """Dense ranks on one board from its score counts (read once per request)."""

    def __init__(self, counts):
        self.scores = sorted(counts, reverse=True)
        self.position = {score: n + 1 for n, score in enumerate(self.scores)}
        self.total = sum(counts.values())

    def rank(self, points: int) -> Optional[int]:
        if points <= 0:
            return None
        return self.position.get(points) or dense_rank(points, self.scores)


def _previous_board(board: str, period: str) -> Optional[str]:
    prev = previous_period(period)
    return board.rsplit("|", 1)[0] + "|" + prev if prev else None


def _rows(entries: list[Entry], board: str, period: str, adapters, viewer,
          scores: dict) -> tuple[list[dict], int]:
    """The rows of a page; `scores`: the histograms of the board and of its previous period's board."""
    ranker = _Ranker(scores[board])
    ids = [e.learner_id for e in entries]
    previous, before_ranker = {}, None
    prev_board = _previous_board(board, period)
    if prev_board and ids:
        previous = adapters.boards.current_many(prev_board, ids)
        before_ranker = _Ranker(scores[prev_board]) if previous else None
    listings = adapters.learners.names(ids) if ids else {}
    shown = {e.learner_id: shows_name(viewer, e.learner_id, listings.get(e.learner_id, Listing(org_id=e.org_id)))
             for e in entries}
    anonymous_orgs = {e.org_id for e in entries if not shown[e.learner_id] and e.org_id}
    org_names = adapters.orgs.names(sorted(anonymous_orgs)) if anonymous_orgs else {}
    rows = []
    for e in entries:
        was, listing = previous.get(e.learner_id), listings.get(e.learner_id)
        who = ({"learner_id": e.learner_id, "name": listing.name if listing else None} if shown[e.learner_id]
               else {"learner_id": None, "name": anonymous_name(org_names.get(e.org_id))})
        rows.append({"rank": ranker.rank(e.points), **who, "org_id": e.org_id, "points": e.points,
                     "previous_rank": before_ranker.rank(was.points) if was and before_ranker else None})
    return rows, ranker.total


def learner_board(query: dict, adapters, now: datetime, viewer) -> dict:
    """One page of a learner board as `viewer` (the caller's Principal) may see it."""
    scope = resolve_scope(query.get("scope"))
    period = resolve_period(query.get("period"), now, adapters.rules.timezone)
    if period == MEMBERS:
        raise bad_request("period", "must be week:YYYY-Www, month:YYYY-MM or all")
    return board_page(scope, period, query, adapters, viewer)


def board_page(scope: Scope, period: str, query: dict, adapters, viewer) -> dict:
    """One page of any learner board (a calendar period, or a campaign's "campaign:<id>")."""
    board = board_key(scope, period)
    limit = parse_limit(query.get("limit"), 20, adapters.limits.max_page_size)
    around = query.get("around")
    prev_board = _previous_board(board, period)
    histograms = [board] + ([prev_board] if prev_board else [])
    if around:
        entries = _around(board, around, adapters, viewer)
        next_cursor = None
        scores = adapters.boards.scores_of(histograms)
    else:
        after = decode_cursor(query["cursor"], BOARD_CURSOR) if query.get("cursor") else None
        entries, scores = adapters.boards.page_and_scores(board, after, limit + 1, histograms)
        next_cursor = encode_cursor(entry_rank_key(entries[limit - 1])) if len(entries) > limit else None
        entries = entries[:limit]
    rows, total = _rows(entries, board, period, adapters, viewer, scores)
    return {"scope": scope.key, "period": period, "total": total, "entries": rows, "next_cursor": next_cursor}


def _around(board: str, learner_id: str, adapters, viewer) -> list[Entry]:
    """The top three, then the learner with the one above and the one below, in board order. Only around a
    learner the viewer may see by name: otherwise the id would find a hidden learner's place."""
    top = adapters.boards.page(board, None, 3)
    if not is_id(learner_id):
        return top  # no learner has such an id (and DynamoDB refuses keys over 1 KB: no 500 for a long one)
    if learner_id != viewer.sub:
        listing = adapters.learners.names([learner_id]).get(learner_id)
        if listing is None or not shows_name(viewer, learner_id, listing):
            return top
    mine = adapters.boards.current_many(board, [learner_id]).get(learner_id)
    if mine is None or not mine.ranked:
        return top
    key = entry_rank_key(mine)
    picked = {e.learner_id: e for e in top + adapters.boards.above(board, key, 1) + [mine]
              + adapters.boards.page(board, key, 1)}
    return sorted(picked.values(), key=entry_rank_key)


def learner_ranks(standing: LearnerStanding, adapters, now: datetime) -> list[dict]:
    """The learner's rank in each of their scopes for this week, this month and all time."""
    zone = adapters.rules.timezone
    scopes = scopes_of(standing.profile.org_id, adapters)
    periods = [f"week:{week_of(now, zone)}", f"month:{month_of(now, zone)}", ALL_TIME]
    wanted = []  # the histograms to read: every board the learner has points on, in one batch read
    for scope in scopes:
        for period in periods:
            prev = previous_period(period)
            if standing.points_by_period.get(period, 0):
                wanted.append(board_key(scope, period))
            if prev and standing.points_by_period.get(prev, 0):
                wanted.append(board_key(scope, prev))
    scores = adapters.boards.scores_of(list(dict.fromkeys(wanted))) if wanted else {}
    ranks = []
    for scope in scopes:
        for period in periods:
            points = standing.points_by_period.get(period, 0)
            board = board_key(scope, period)
            prev = previous_period(period)
            prev_points = standing.points_by_period.get(prev, 0) if prev else 0
            ranks.append({
                "scope": scope.key, "period": period, "points": points,
                "rank": dense_rank(points, scores[board]) if points else None,
                "previous_rank": (dense_rank(prev_points, scores[board_key(scope, prev)]) if prev_points else None),
            })
    return ranks


# --- org boards ------------------------------------------------------------------------------------------

METRICS = ("participation", "hours_per_learner", "points_per_learner")


def org_board(query: dict, adapters, now: datetime) -> dict:
    scope = resolve_scope(query.get("scope"), allowed=("ministry", "state", "dept", "national"))
    period = resolve_period(query.get("period"), now, adapters.rules.timezone)
    return org_board_of(scope, period, query, adapters, started=period_start(period, adapters.rules.timezone))


def org_board_of(scope: Scope, period: str, query: dict, adapters,
                 headcount_of: Optional[Callable[[dict[str, int]], dict[str, int]]] = None,
                 started: Optional[datetime] = None) -> dict:
    """Orgs compared within size categories on any period (a campaign's too). headcount_of, given the
    headcounts the boards know (learners seen), may replace them (campaigns: the org's roster). The size
    categories are those of the rule version in force when the period `started` (now for all time)."""
    metric = query.get("metric") or "participation"
    if metric not in METRICS:
        raise bad_request("metric", f"must be one of {', '.join(METRICS)}")
    limit = parse_limit(query.get("limit"), 10, adapters.limits.max_page_size)
    config = adapters.boards.config
    categories_in_force = size_categories_at(adapters.rules, config, started)
    in_scope = (lambda s: True) if scope.kind == "national" else (lambda s: scope.key in s.parents)
    # An org whose learners have all moved away keeps a statistics row at zero: it is no org to compare or hide.
    headcounts = {s.org_id: s.learners for s in adapters.boards.org_stats(MEMBERS)
                  if in_scope(s) and s.learners > 0}
    if headcount_of is not None:
        headcounts = headcount_of(headcounts)
    # An org with a roster is as big as its roster says (employees who never learned included); the others
    # as many learners as have been seen. One batch read of the roster counters.
    rostered = adapters.rosters.headcounts(list(headcounts)) if headcounts else {}
    headcounts.update({org_id: n for org_id, n in rostered.items() if n > 0})
    activity = {s.org_id: s for s in adapters.boards.org_stats(period) if s.org_id in headcounts}
    hidden = sum(1 for n in headcounts.values() if n <= config.max_hidden_org_learners)
    by_category: dict[str, list[dict]] = {c.name: [] for c in categories_in_force}
    for org_id, headcount in headcounts.items():
        category = size_category(headcount, categories_in_force) if headcount > config.max_hidden_org_learners else None
        if category is None:
            continue
        stats = activity.get(org_id)
        participants, points, minutes = (stats.learners, stats.points, stats.minutes) if stats else (0, 0, 0)
        value = {"participation": participants / headcount, "hours_per_learner": minutes / 60 / headcount,
                 "points_per_learner": points / headcount}[metric]
        by_category[category.name].append({"org_id": org_id, "headcount": headcount, "participants": participants,
                                           "points": points, "hours": round(minutes / 60, 1),
                                           "value": round(value, 4)})
    categories = []
    for category in categories_in_force:
        rows = sorted(by_category[category.name], key=lambda r: (-r["value"], r["org_id"]))
        distinct = sorted({r["value"] for r in rows}, reverse=True)
        position = {v: n + 1 for n, v in enumerate(distinct)}
        shown = rows[:limit]
        org_names = adapters.orgs.names([r["org_id"] for r in shown]) if shown else {}
        categories.append({"category": category.name, "min_headcount": category.min_headcount,
                           "max_headcount": category.max_headcount, "orgs_ranked": len(rows),
                           "orgs": [{**r, "rank": position[r["value"]], "name": org_names.get(r["org_id"])}
                                    for r in shown]})
    return {"scope": scope.key, "period": period, "metric": metric, "categories": categories,
            "hidden_small_orgs": hidden}
