"""Erasure: a learner's personal data out of their record and their stored events, their points kept.

What goes: the profile (name, designation, group, email, phone, language, employee code and any other field
of the learner block the platform sent), from the learner record and from every stored event's body, and the
preferences. What stays, under the learner id: the org, the events' learning facts, points, ledger, badges and
board entries, so that nobody else's rank and no org's figures change. Boards show the learner as "A Karmayogi
from <org>" from then on.

Three writers can race an erasure; each is closed off:
* a scoring save in flight: mark_erased bumps the version, so that save fails, re-reads and sees erased_at;
  scoring of an erased learner always empties the profile (learners/erasure.py project_erasure);
* a learner.upserted arriving: ingestion strips the personal fields of events of erased learners, and one
  that was checked just before the mark is scrubbed by the scoring its arrival queues (learners/erasure.py project_erasure);
* a second erasure: every step is idempotent, and erased_at keeps the first time.
"""
from __future__ import annotations

from datetime import datetime

from chalicelib.errors import not_found
from chalicelib.events import is_id
from chalicelib.identity.access import require_national_admin
from chalicelib.rules.periods import utc_iso
from chalicelib.rules.privacy import anonymous_profile, personal_fields, without_personal_data

KEPT = ["learner_id", "org_id", "events (learning facts only)", "points", "ledger", "badges", "board_entries"]


def scrub_events(learner_id: str, events, adapters) -> tuple[int, set[str]]:
    """Rewrite the stored events that still carry personal data. Returns how many, and which fields went."""
    stream, rewritten, fields = f"learner:{learner_id}", 0, set[str]()
    for event in events:
        body = event.model_dump(mode="json")
        personal = personal_fields(body.get("learner"))
        if personal:
            adapters.events.rewrite(stream, event.id, without_personal_data(body))
            rewritten, fields = rewritten + 1, fields | set(personal)
    return rewritten, fields


def project_erasure(change, adapters, touched: set[str]) -> None:
    """Scoring's projection (bootstrap.scoring_pipeline): an erased learner keeps no event with personal data
    in it (compute() already empties the profile)."""
    snapshot = change.snapshot
    if snapshot.stored and snapshot.stored.erased_at:
        scrub_events(snapshot.learner_id, snapshot.events, adapters)


def erase_learner(learner_id: str, principal, adapters, now: datetime) -> dict:
    """POST /v1/learners/{id}/erase (national admins). Idempotent: a second call finds nothing more to remove."""
    require_national_admin(principal)
    stored = adapters.learners.get(learner_id) if is_id(learner_id) else None
    if stored is None:
        raise not_found(f"learner {learner_id[:128]}")
    profile = stored.standing.profile
    held = sorted(name for name, value in vars(profile).items() if value is not None and name != "org_id")
    erased_at = adapters.learners.mark_erased(learner_id, anonymous_profile(profile), now)
    if erased_at is None:
        raise not_found(f"learner {learner_id}")
    rewritten, fields = scrub_events(learner_id, adapters.events.stream(f"learner:{learner_id}"), adapters)
    # The checkpoint of the fold holds the profile as folded: gone too (the next scoring re-folds, from the
    # scrubbed events, and keeps only the empty profile in the checkpoint it takes).
    adapters.learners.drop_checkpoint(learner_id)
    from chalicelib.directory.service import forget_personal_data  # the platform's user directory too
    forget_personal_data(learner_id, adapters)
    return {
        "learner_id": learner_id,
        "erased_at": utc_iso(erased_at),
        "already_erased": stored.erased_at is not None,
        "removed": {"profile_fields": held, "preferences": stored.preferences is not None,
                    "events_rewritten": rewritten, "event_fields": sorted(fields)},
        "kept": KEPT,
    }
