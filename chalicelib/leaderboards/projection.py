"""The boards as a projection of scoring: keep a learner's entries (and their score counts and org statistics) in
line with their standing. Applied by the scoring pipeline before the learner is saved (scoring/pipeline.py), and
by campaign progress for campaign boards.
"""
from __future__ import annotations

from typing import Optional

from chalicelib.leaderboards.boards import Entry, Scope, board_key, desired_entries, parse_scope, scope_of_board, scopes_for
from chalicelib.orgtree import parent_lookup
from chalicelib.rules.learner import LearnerStanding
from chalicelib.storage.ports import ConcurrentUpdate

MEMBERS = "members"  # pseudo-period: one entry per learner in their org, so org stats count headcount
ATTEMPTS = 5


def entries_wanted(standing: LearnerStanding, scopes: list[Scope], members: bool = True) -> dict[str, Entry]:
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
    desired = entries_wanted(after, scopes, members)
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
        boards = sorted(b for b in desired if scope_of_board(b).id == org and scope_of_board(b).kind == "org")
        if before is not None and boards:
            # Statistics are folded from the entries' stream, which carries the org's ancestors with each entry:
            # entries that did not change are written again, as they are, with the new ancestors.
            current = adapters.boards.current(after.learner_id, boards)
            same = [(current[b], desired[b]) for b in boards if current.get(b) == desired[b]]
            try:
                if same:
                    adapters.boards.apply(same, parents)
            except ConcurrentUpdate:
                pass  # whoever changed them meanwhile wrote them with the ancestors they read


def project_boards(change, adapters, touched: set[str]) -> None:
    """Scoring's projection (bootstrap.scoring_pipeline): the learner's calendar boards."""
    stored = change.snapshot.stored
    sync_learner(stored.standing if stored else None, change.scored.standing, change.scopes,
                 stored.scopes if stored else (), adapters, touched)
