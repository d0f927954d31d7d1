"""The nudge schedule as a projection of scoring (scoring/pipeline.py): kept apart from the ladder so that scoring imports nothing
of the sending side."""
from __future__ import annotations

from chalicelib.notifications import policy
from chalicelib.notifications.nudge_store import NudgeEntry


def on_scored(stored, standing, adapters) -> None:
    """Called by scoring before it saves: a new last_active_at starts a new spell at rung 1 (and ends the old)."""
    before = stored.standing.last_active_at if stored else None
    if standing.last_active_at is None or standing.last_active_at == before:
        return
    n = adapters.notifications
    config = n.settings()
    spell_day = policy.local_date_of(standing.last_active_at, config)
    due = policy.rung_date(spell_day, 1, config)
    n.schedule.start_spell(NudgeEntry(standing.learner_id, f"a:{spell_day.isoformat()}", 1, due.isoformat(),
                                      standing.profile.org_id), config.pending_shards)


def project_nudges(change, adapters, touched: set[str]) -> None:
    """Scoring's projection (bootstrap.scoring_pipeline)."""
    on_scored(change.snapshot.stored, change.scored.standing, adapters)
