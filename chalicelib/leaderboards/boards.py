"""Leaderboards as pure rules: scopes, periods, board keys, shards, rank keys and dense ranks. No I/O.

A board is (scope, period): "org:org_mines_hq|week:2024-W43", "national|all". Each learner with points or
minutes in a period has one entry per board of their scopes. Busy boards are split into shards (by learner
hash) so no single partition key takes every write; a reader merges the shards.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterable, Mapping, Optional

from chalicelib.rules.periods import ALL_TIME, shift_week
from chalicelib.events import is_id
from chalicelib.sharding import shard_of  # noqa: F401 (board shards; importers use it from here too)

SCOPE_KINDS = ("org", "dept", "ministry", "state", "national")
_PERIOD = re.compile(r"^(week:\d{4}-W(0[1-9]|[1-4]\d|5[0-3])|month:\d{4}-(0[1-9]|1[0-2])|all)$")
# Points are stored inverted in the rank key so that an ascending index read lists the highest first.
_POINTS_CEILING = 10 ** 10


@dataclass(frozen=True)
class Scope:
    kind: str
    id: Optional[str] = None

    @property
    def key(self) -> str:
        return self.kind if self.kind == "national" else f"{self.kind}:{self.id}"


NATIONAL = Scope("national")


def parse_scope(text: str) -> Scope:
    kind, _, ident = (text or "").partition(":")
    if kind == "national" and not ident:
        return NATIONAL
    if kind in SCOPE_KINDS and kind != "national" and is_id(ident):
        return Scope(kind, ident)
    raise ValueError("must be org:<id>, dept:<id>, ministry:<id>, state:<id> or national")


def parse_period(text: str) -> str:
    if not _PERIOD.match(text or ""):
        raise ValueError("must be week:YYYY-Www, month:YYYY-MM or all")
    if text.startswith("week:"):  # reject weeks that do not exist, such as 2025-W53
        year, week = text[5:].split("-W")
        try:
            date.fromisocalendar(int(year), int(week), 1)
        except ValueError:
            raise ValueError(f"{text[5:]} is not an ISO week") from None
    return text


def previous_period(period: str) -> Optional[str]:
    """The period before: last week, last month. The all-time board has none."""
    if period.startswith("week:"):
        return "week:" + shift_week(period[5:], -1)
    if period.startswith("month:"):
        year, month = map(int, period[6:].split("-"))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return f"month:{year:04d}-{month:02d}"
    return None


def scopes_for(org_id: Optional[str], parent_of: Callable[[str], Optional[tuple[str, Optional[str]]]]) -> list[Scope]:
    """Every scope a learner of org_id is ranked in: the org, its department, its ministry or state, national.

    parent_of(org_id) -> (type, parent_id) or None when the org is unknown (its event may not have arrived yet).
    """
    if not org_id:
        return [NATIONAL]
    scopes, seen, node = [Scope("org", org_id)], set(), org_id
    dept = top = None
    while node and node not in seen:  # a cycle in bad org data must not loop forever
        seen.add(node)
        found = parent_of(node)
        if found is None:
            break
        kind, parent = found
        if kind == "department" and dept is None:
            dept = node
        if kind in ("ministry", "state"):
            top = Scope(kind, node)
        node = parent
    if dept:
        scopes.append(Scope("dept", dept))
    if top:
        scopes.append(top)
    scopes.append(NATIONAL)
    return scopes


def board_key(scope: Scope, period: str) -> str:
    return f"{scope.key}|{period}"


def scope_of_board(board: str) -> Scope:
    return parse_scope(board.split("|", 1)[0])


def rank_key(points: int, reached_at: datetime, learner_id: str) -> str:
    """Sorts ascending as the board reads: most points first; among equals, who reached the score first."""
    return f"{_POINTS_CEILING - points:010d}|{reached_at.strftime('%Y%m%dT%H%M%S.%fZ')}|{learner_id}"


@dataclass(frozen=True)
class Entry:
    """One learner on one board for one period."""
    board: str
    learner_id: str
    org_id: Optional[str]
    points: int
    minutes: int
    reached_at: Optional[datetime]

    @property
    def ranked(self) -> bool:
        return self.points > 0


def desired_entries(learner_id: str, org_id: Optional[str], points_by_period: Mapping[str, int],
                    minutes_by_period: Mapping[str, int], reached_at: Mapping[str, datetime],
                    scopes: Iterable[Scope]) -> dict[str, Entry]:
    """The entries a learner should have, from their standing. Minutes alone keep an org-board entry (for
    participation) without ranking it."""
    entries = {}
    periods = set(points_by_period) | set(minutes_by_period)
    for period in periods:
        points, minutes = points_by_period.get(period, 0), minutes_by_period.get(period, 0)
        if points <= 0 and minutes <= 0:
            continue
        for scope in scopes:
            if points <= 0 and scope.kind != "org":
                continue  # minutes alone matter only to the org's participation figures
            board = board_key(scope, period)
            entries[board] = Entry(board, learner_id, org_id, points, minutes,
                                   reached_at.get(period) if points > 0 else None)
    return entries


def score_moves(old: Optional[Entry], new: Optional[Entry]) -> list[tuple[int, int]]:
    """(points, +1/-1) adjustments to a board's score histogram."""
    before = old.points if old and old.ranked else None
    after = new.points if new and new.ranked else None
    if before == after:
        return []
    return [(p, d) for p, d in ((before, -1), (after, +1)) if p is not None]


def org_stat_delta(old: Optional[Entry], new: Optional[Entry]) -> Optional[tuple[str, str, int, int, int]]:
    """(period, org, learners, points, minutes) change for org-scope boards; None otherwise."""
    board = (new or old).board  # type: ignore[union-attr]
    scope = scope_of_board(board)
    if scope.kind != "org":
        return None
    delta = ((1 if new else 0) - (1 if old else 0), (new.points if new else 0) - (old.points if old else 0),
             (new.minutes if new else 0) - (old.minutes if old else 0))
    if not any(delta):
        return None
    return (board.split("|", 1)[1], str(scope.id)) + delta


def fold_scores(changes: Iterable[tuple[Optional[Entry], Optional[Entry]]]) -> Counter:
    """A batch of one board's entry changes as one histogram delta (points -> learners), zeros left out."""
    total: Counter = Counter()
    for old, new in changes:
        for points, delta in score_moves(old, new):
            total[points] += delta
    return Counter({p: d for p, d in total.items() if d})


def fold_stats(changes: Iterable[tuple[Optional[Entry], Optional[Entry]]]) -> tuple[int, int, int]:
    """A batch of one org board's entry changes as one (learners, points, minutes) delta."""
    learners = points = minutes = 0
    for old, new in changes:
        delta = org_stat_delta(old, new)
        if delta:
            learners, points, minutes = learners + delta[2], points + delta[3], minutes + delta[4]
    return learners, points, minutes


def touches_top(rank_keys: Iterable[Optional[str]], cut: Optional[str]) -> bool:
    """Whether changes at these rank keys (before or after) may change a board's materialised top, whose last
    entry is at `cut` ("" or None: the top holds every ranked entry, so any ranked change does)."""
    keys = [k for k in rank_keys if k]
    return bool(keys) and (not cut or min(keys) <= cut)


def dense_rank(points: int, distinct_scores: Iterable[int]) -> Optional[int]:
    """1 + how many distinct scores are higher: 42, 25, 25, 10 rank 1, 2, 2, 3. None if not ranked."""
    if points <= 0:
        return None
    return 1 + sum(1 for score in set(distinct_scores) if score > points)


@dataclass(frozen=True)
class SizeCategory:
    name: str
    min_headcount: int
    max_headcount: Optional[int]


def size_category(headcount: int, categories: Iterable[SizeCategory]) -> Optional[SizeCategory]:
    for category in categories:
        if headcount >= category.min_headcount and (category.max_headcount is None
                                                    or headcount <= category.max_headcount):
            return category
    return None


ALL = ALL_TIME
