"""Use cases about learners: recompute one from their events, and read their standing and ledger."""
from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime

from chalicelib import deadletters
from chalicelib.campaigns import service as campaigns
from chalicelib.errors import not_found
from chalicelib.events import OrgUpserted, is_id
from chalicelib.leaderboards import service as leaderboards
from chalicelib.learners import erasure
from chalicelib.learners.ledger import entries_to_append, recorded_totals
from chalicelib.notifications import schedule as nudge_schedule
from chalicelib.review import service as review
from chalicelib.identity.access import forbidden, require_learner_access
from chalicelib.orgtree import forget_org, parent_lookup
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.rules.learner import LearnerStanding, current_clap_streak, evaluate
from chalicelib.rules.periods import month_of, utc_iso, utc_stamp, week_of
from chalicelib.rules.privacy import mask_email, mask_phone
from chalicelib.storage.ports import ConcurrentUpdate, DomainEvent

ATTEMPTS = 5
LEDGER_CURSOR = r"\d{10}\.\d{3}"  # a ledger seq: learner version and position


def recompute_stream(stream: str, adapters) -> None:
    """Bring everything derived from one stream up to date with its stored events. Idempotent."""
    kind, _, key = stream.partition(":")
    if kind == "org":
        return _apply_org_events(key, stream, adapters)
    touched: set[str] = set()  # boards a failed attempt may have changed: the next attempt re-checks them
    for attempt in range(ATTEMPTS):
        try:
            return score_learner(key, adapters, touched)
        except ConcurrentUpdate:
            if attempt == ATTEMPTS - 1:
                raise


def _apply_org_events(org_id: str, stream: str, adapters) -> None:
    moved = False
    for event in sorted(adapters.events.stream(stream), key=lambda e: e.order_key):
        if isinstance(event, OrgUpserted):
            token = f"{utc_stamp(event.occurred_at)}|{event.id}"
            moved |= adapters.orgs.upsert(event.org, token)
    if moved:
        # Everyone below the org now belongs to other department/ministry boards. Re-score them once every
        # function has dropped its cached copy of the tree.
        forget_org(org_id, adapters)
        delay = adapters.boards.config.org_tree_cache_seconds + 5
        adapters.queue.send([f"learner:{learner}" for learner in leaderboards.learners_under(org_id, adapters)],
                            delay_seconds=min(delay, 900))  # SQS delays at most 15 minutes


def _persisted(standing: LearnerStanding) -> LearnerStanding:
    return dataclasses.replace(standing, ledger=[], week_minutes=Counter())


def score_learner(learner_id: str, adapters, touched: set[str] | None = None) -> None:
    # The stored learner (and its version) first, then its ledger, the events last: a save by someone else
    # in between makes ours fail and retry, so an older set of events can never overwrite a newer one, and
    # every recorded entry is for an event we have read.
    stored = adapters.learners.get(learner_id)
    recorded = adapters.learners.ledger(learner_id)
    events, received = adapters.events.stream_received(f"learner:{learner_id}")
    held, decisions = review.hold_new(learner_id, events, stored.standing if stored else None, adapters)
    standing = evaluate(learner_id, events, adapters.rules, adapters.catalogue, decisions,
                        campaigns.boosts_for(events, adapters))
    if stored and stored.erased_at:  # an erased learner's profile stays empty (learners/erasure.py)
        standing.profile = erasure.keep_erased(learner_id, standing.profile, events, adapters)
    occurred = {e.id: e.occurred_at for e in events}
    reasons = {event_id: ("rejected in review" if decisions.get(event_id) == "rejected" else "held for review")
               + f", {hold.why}" for event_id, hold in held.items()}
    entries = entries_to_append(standing.ledger, recorded_totals(recorded), occurred, reasons)
    already = stored.standing.badges if stored else {}
    facts = [DomainEvent(f"badge.awarded:{learner_id}:{award.badge_id}", "badge.awarded", learner_id,
                         award.awarded_at, {"badge_id": award.badge_id, "event_id": award.event_id})
             for award in standing.badges.values() if award.badge_id not in already]
    scopes = leaderboards.scopes_of(standing.profile.org_id, adapters)
    scope_keys = tuple(s.key for s in scopes)
    # Campaign progress, boards and org statistics: written (conditionally) before the learner, like the boards.
    campaigns.sync_progress(learner_id, events, received, standing, decisions, adapters,
                            touched if touched is not None else set())
    if (stored and not entries and not facts and stored.scopes == scope_keys
            and _persisted(standing) == stored.standing):
        return  # a replay: nothing to write
    nudge_schedule.on_scored(stored, standing, adapters)  # a new last_active_at restarts the nudge ladder
    # Boards before the learner: a crash in between leaves the stored standing old, so the retry sees the
    # same difference and finishes the job.
    leaderboards.sync_learner(stored.standing if stored else None, standing, scopes,
                              stored.scopes if stored else (), adapters, touched if touched is not None else set())
    adapters.learners.save(standing, entries, facts, stored.version if stored else 0, scope_keys)


# --- reading ------------------------------------------------------------------------------------------

def readable_learner(learner_id: str, principal, adapters):
    """The stored learner, if the caller may see them: themself, an admin of their org, a national admin."""
    # An id that could never have been accepted is simply unknown (and never reaches DynamoDB's key limits).
    stored = adapters.learners.get(learner_id) if is_id(learner_id) else None
    if stored is None:
        if principal.sub != learner_id and not principal.has("national_admin"):
            raise forbidden("you may only see your own data, or that of learners in orgs you administer")
        raise not_found(f"learner {learner_id[:128]}")
    require_learner_access(principal, learner_id, stored.standing.profile.org_id, parent_lookup(adapters))
    return stored


def learner_summary(learner_id: str, principal, adapters, now: datetime) -> dict:
    return summary_of(readable_learner(learner_id, principal, adapters), adapters, now)


def summary_of(stored, adapters, now: datetime) -> dict:
    s, zone = stored.standing, adapters.rules.timezone
    catalogue = {b.id: b for b in adapters.catalogue}
    this_week, this_month = f"week:{week_of(now, zone)}", f"month:{month_of(now, zone)}"
    return {
        "learner_id": s.learner_id,
        "name": s.profile.name,
        "org_id": s.profile.org_id,
        "contact": {"email": mask_email(s.profile.email), "phone": mask_phone(s.profile.phone)},
        "points": s.points,
        "points_this_week": s.points_by_period.get(this_week, 0),
        "points_this_month": s.points_by_period.get(this_month, 0),
        "courses_completed": s.courses_completed,
        "learning_minutes": s.learning_minutes,
        "competency_areas": sorted(s.competency_areas),
        "claps": {"current": current_clap_streak(s.clap_weeks, week_of(now, zone)), "best": s.best_clap_streak,
                  "weekly_minutes_needed": adapters.rules.clap_weekly_minutes},
        "badges": [{"id": b.badge_id, "name": catalogue[b.badge_id].name if b.badge_id in catalogue else b.badge_id,
                    "awarded_at": utc_iso(b.awarded_at), "event_id": b.event_id,
                    "why": catalogue[b.badge_id].description if b.badge_id in catalogue else None}
                   for b in sorted(s.badges.values(), key=lambda b: (b.awarded_at, b.badge_id))]
        + campaigns.badges_of(s.learner_id, adapters),  # campaign awards (campaigns/service.py close)
        "last_active_at": utc_iso(s.last_active_at) if s.last_active_at else None,
        "held_events": s.held_events,
        "ranks": leaderboards.learner_ranks(s, adapters, now),
    }


def ledger_page(learner_id: str, principal, adapters, limit, cursor) -> dict:
    readable_learner(learner_id, principal, adapters)
    size = parse_limit(limit, 20, adapters.limits.max_page_size)
    entries, next_seq = adapters.learners.ledger_page(learner_id, size, decode_cursor(cursor, LEDGER_CURSOR) if cursor else None)
    return {
        "learner_id": learner_id,
        "entries": [ledger_entry(e) for e in entries],
        "next_cursor": encode_cursor(next_seq) if next_seq else None,
    }


def ledger_entry(e) -> dict:
    return {"event_id": e.event_id, "rule": e.rule, "amount": e.amount, "note": e.note, "kind": e.kind,
            "occurred_at": utc_iso(e.occurred_at), "recorded_at": utc_iso(e.recorded_at) if e.recorded_at else None}


def badge_catalogue(adapters) -> dict:
    return {"badges": [b.as_dict() for b in adapters.catalogue]}


def recompute_streams(messages: list[tuple[str, str]], adapters, log,
                      reasons: dict[str, str] | None = None) -> list[str]:
    """Recompute each stream named in a queue batch once; returns the ids of messages that failed, so that
    only those are retried (and reach the dead-letter queue if they keep failing). `reasons`, if given, gets
    message id -> why it failed (chalicelib/deadletters.py puts it on the dead letter)."""
    by_stream: dict[str, list[str]] = {}
    for message_id, stream in messages:
        by_stream.setdefault(stream, []).append(message_id)
    failed = []
    for stream, message_ids in by_stream.items():
        try:
            recompute_stream(stream, adapters)
        except Exception as exc:  # one bad stream must not sink the batch
            # Only the stream id and the error's type: messages can carry personal data.
            log.error("recompute failed", extra={"stream": stream, "error": type(exc).__name__})
            failed.extend(message_ids)
            if reasons is not None:
                reasons.update(dict.fromkeys(message_ids, deadletters.reason_of(exc)))
    return failed
