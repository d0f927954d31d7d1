"""GET /v1/learners/{id}/export: everything held about a learner, for the learner (or a national admin)."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from chalicelib.identity.access import forbidden
from chalicelib.leaderboards.boards import board_key, parse_scope
from chalicelib.learners.preferences import effective
from chalicelib.learners.service import ledger_entry, readable_learner, summary_of
from chalicelib.rules.periods import utc_iso


def export_learner(learner_id: str, principal, adapters, now: datetime) -> dict:
    """Profile with contact details in full (it is their own data), preferences, standing, the whole ledger
    (oldest first), every stored event as accepted, and the learner's board entries."""
    if principal.sub != learner_id and not principal.has("national_admin"):
        raise forbidden("only the learner themself or a national admin may export a learner's data")
    stored = readable_learner(learner_id, principal, adapters)
    s = stored.standing
    events = sorted(adapters.events.stream(f"learner:{learner_id}"), key=lambda e: e.order_key)
    periods = sorted(set(s.points_by_period) | set(s.minutes_by_period))
    boards = [board_key(parse_scope(scope), period) for scope in stored.scopes for period in periods]
    entries = adapters.boards.current(learner_id, boards) if boards else {}
    return {
        "learner_id": learner_id,
        "exported_at": utc_iso(now),
        "erased_at": utc_iso(stored.erased_at) if stored.erased_at else None,
        "profile": dataclasses.asdict(s.profile),
        "preferences": effective(stored.preferences, s.profile.language).model_dump(),
        "standing": summary_of(stored, adapters, now),
        "ledger": [ledger_entry(e) for e in adapters.learners.ledger(learner_id)],
        "events": [e.model_dump(mode="json") for e in events],
        "board_entries": [{"scope": board.split("|")[0], "period": board.split("|")[1], "points": e.points,
                           "minutes": e.minutes} for board, e in sorted(entries.items())],
    }
