"""Leaderboard use cases: keep a learner's entries in line with their standing, and read boards back.

Every read costs a fixed number of requests whatever the population: one query per shard for the entries,
one per shard for the score counts (which give dense ranks and the total), one batch read for the previous
period's entries, one for names and one for the org names of anonymous rows.

Names are resolved at read time from the learner records, for the caller (rules/privacy.py): a change of a
learner's leaderboard visibility shows on the next read. Ranks and points are the same whatever is shown.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

from chalicelib.errors import bad_request
from chalicelib.events import ID_PATTERN, is_id
from chalicelib.orgtree import parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.leaderboards.boards import (Entry, Scope, board_key, dense_rank, desired_entries, parse_period,
                                            parse_scope, previous_period, scope_of_board, scopes_for,
                                            size_category)
from chalicelib.rules.learner import LearnerStanding
from chalicelib.rules.periods import ALL_TIME, month_of, week_of
from chalicelib.rules.privacy import Listing, anonymous_name, shows_name
from chalicelib.leaderboards.store import entry_rank_key
from chalicelib.storage.ports import ConcurrentUpdate

MEMBERS = "members"  # pseudo-period: one entry per learner in their org, so org stats count headcount
ATTEMPTS = 5
BOARD_CURSOR = r"\d{10}\|\d{8}T\d{6}\.\d{6}Z\|" + ID_PATTERN  # a rank key


# --- keeping boards in line ------------------------------------------------------------------------------

def _desired(standing: LearnerStanding, scopes: list[Scope], members: bool = True) -> dict[str, Entry]:
    entries = desired_entries(standing.learner_id, standing.profile.org_id, standing.points_by_period,
                              standing.minutes_by_period, standing.reached_at, scopes)
    if members and standing.profile.org_id:
        board = board_key(Scope("org", standing.profile.org_id), MEMBERS)
        entries[board] = Entry(board, standing.learner_id, standing.profile.org_id, 0, 0, None)
    return entries


def _period_state(standing: Optional[LearnerStanding], period: str):
    if standing is None:
        return None
    return (standing.points_by_period.get(period, 0), standing.minutes_by_period.get(period, 0),
            standing.reached_at.get(period))


def scopes_of(org_id: Optional[str], adapters) -> list[Scope]:
    """The scopes a learner of this org is ranked in, from the (briefly cached) org tree."""
    return scopes_for(org_id, parent_lookup(adapters))


def learners_under(org_id: str, adapters) -> list[str]:
    """Every learner in an org and the orgs below it: their board scopes change when the org moves."""
    learners, pending, seen = [], [org_id], set()
    while pending:
        org = pending.pop()
        if org in seen:
            continue
        seen.add(org)
        learners.extend(adapters.boards.learners_on(board_key(Scope("org", org), MEMBERS)))
        pending.extend(adapters.orgs.children(org))
    return learners


def sync_learner(before: Optional[LearnerStanding], after: LearnerStanding, scopes: list[Scope],
                 old_scope_keys: tuple[str, ...], adapters, touched: set[str], members: bool = True) -> None:
    """Apply to the boards what changed between the stored standing and the new one.

    `scopes` are the learner's scopes now; `old_scope_keys` those their entries were last written under (the
    org may have moved in the tree since, so they are remembered, not recomputed).

    Called before the new standing is saved: if we crash in between, the retry sees the same difference, finds
    the boards already right, and saves. If the save then loses to a concurrent recompute, the caller retries
    with `touched` (the boards this call checked, added here), so whatever we wrote is put right. Each board
    change is applied once (see leaderboards/store.py).

    Campaign boards (period "campaign:<id>", chalicelib/campaigns/) go through here too, with standings that
    hold only the campaign's period and members=False: the org's headcount entry is the learner's own.
    """
    parent_of = parent_lookup(adapters)
    desired = _desired(after, scopes, members)
    periods = set(after.points_by_period) | set(after.minutes_by_period)
    if before is not None:
        periods |= set(before.points_by_period) | set(before.minutes_by_period)
    moved = before is None or tuple(s.key for s in scopes) != tuple(old_scope_keys)
    changed = {p for p in periods if moved or _period_state(before, p) != _period_state(after, p)}
    extra = {MEMBERS} if members else set()
    candidates = {board_key(s, p) for s in scopes for p in changed | extra}
    if moved and old_scope_keys:
        old_scopes = [parse_scope(key) for key in old_scope_keys]
        candidates |= {board_key(s, p) for s in old_scopes for p in periods | extra}
    # `touched` is shared by the learner's calendar boards and each campaign's: only this call's own kind.
    candidates |= {b for b in touched if (b.split("|", 1)[1] in periods if not members
                                          else not b.split("|", 1)[1].startswith("campaign:"))}
    touched |= candidates
    # Each org's own ancestors, for its statistics: a learner moving org also changes the old org's figures,
    # which must keep the old org's parents, not take the new org's.
    orgs = {scope_of_board(b).id for b in candidates if scope_of_board(b).kind == "org"}
    parents = {org: [s.key for s in scopes_for(org, parent_of)[1:] if s.kind != "national"] for org in orgs}
    for attempt in range(ATTEMPTS):
        current = adapters.boards.current(after.learner_id, candidates)
        changes = [(current.get(b), desired.get(b)) for b in sorted(candidates) if current.get(b) != desired.get(b)]
        try:
            if changes:
                adapters.boards.apply(changes, parents)
            break
        except ConcurrentUpdate:
            if attempt == ATTEMPTS - 1:
                raise
    if moved and scopes and scopes[0].kind == "org":
        # The org's ancestors changed (or the learner was first scored before the org was known): statistics
        # rows no entry change touched would keep the old ancestors, and the org would be missing from (or
        # stay on) its new parents' org boards. Found by tests/test_faults.py (an org scored after its learners).
        org = scopes[0].id
        for board in sorted(b for b in desired if scope_of_board(b).id == org and scope_of_board(b).kind == "org"):
            adapters.boards.refresh_parents(board.split("|", 1)[1], org, parents.get(org, []))


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


def _rows(entries: list[Entry], board: str, period: str, adapters, viewer) -> tuple[list[dict], int]:
    ranker = _Ranker(adapters.boards.scores(board))
    ids = [e.learner_id for e in entries]
    previous, before_ranker = {}, None
    prev = previous_period(period)
    if prev and ids:
        prev_board = board.rsplit("|", 1)[0] + "|" + prev
        previous = adapters.boards.current_many(prev_board, ids)
        before_ranker = _Ranker(adapters.boards.scores(prev_board)) if previous else None
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
    if around:
        entries = _around(board, around, adapters, viewer)
        next_cursor = None
    else:
        after = decode_cursor(query["cursor"], BOARD_CURSOR) if query.get("cursor") else None
        entries = adapters.boards.page(board, after, limit + 1)
        next_cursor = encode_cursor(entry_rank_key(entries[limit - 1])) if len(entries) > limit else None
        entries = entries[:limit]
    rows, total = _rows(entries, board, period, adapters, viewer)
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
    ranks = []
    for scope in scopes:
        for period in periods:
            points = standing.points_by_period.get(period, 0)
            board = board_key(scope, period)
            prev = previous_period(period)
            prev_points = standing.points_by_period.get(prev, 0) if prev else 0
            ranks.append({
                "scope": scope.key, "period": period, "points": points,
                "rank": dense_rank(points, adapters.boards.scores(board)) if points else None,
                "previous_rank": (dense_rank(prev_points, adapters.boards.scores(board_key(scope, prev)))
                                  if prev_points else None),
            })
    return ranks


# --- org boards ------------------------------------------------------------------------------------------

METRICS = ("participation", "hours_per_learner", "points_per_learner")


def org_board(query: dict, adapters, now: datetime) -> dict:
    scope = resolve_scope(query.get("scope"), allowed=("ministry", "state", "dept", "national"))
    period = resolve_period(query.get("period"), now, adapters.rules.timezone)
    return org_board_of(scope, period, query, adapters)


def org_board_of(scope: Scope, period: str, query: dict, adapters,
                 headcount_of: Optional[Callable[[dict[str, int]], dict[str, int]]] = None) -> dict:
    """Orgs compared within size categories on any period (a campaign's too). headcount_of, given the
    headcounts the boards know (learners seen), may replace them (campaigns: the org's roster)."""
    metric = query.get("metric") or "participation"
    if metric not in METRICS:
        raise bad_request("metric", f"must be one of {', '.join(METRICS)}")
    limit = parse_limit(query.get("limit"), 10, adapters.limits.max_page_size)
    config = adapters.boards.config
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
    by_category: dict[str, list[dict]] = {c.name: [] for c in config.size_categories}
    for org_id, headcount in headcounts.items():
        category = size_category(headcount, config.size_categories) if headcount > config.max_hidden_org_learners else None
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
    for category in config.size_categories:
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
