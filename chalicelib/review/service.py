"""Use cases of the anti-abuse review: keep the held list in line while scoring, list it, decide on it.

The rule (rules/abuse.py) decides what is held, from the learner's events alone; the fold scores a held event
only once it is released. Decisions are stored per event (review/store.py) and fed to the fold, so a
learner's standing stays a pure function of (events, decisions). A decision queues the learner for
recompute: points, badges and board entries of a released event follow from that, like for any late event.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from chalicelib.errors import ApiError, bad_request, not_found, json_object, storable_text
from chalicelib.identity.access import require_national_admin
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.events import is_id
from chalicelib.facts import publish, review_rejected
from chalicelib.rules.periods import utc_iso
from chalicelib.rules import abuse
from chalicelib.rules.abuse import HELD
from chalicelib.review.ports import HELD_POSITION, AlreadyDecided, Review

NOTE_MAX = 500


# --- while scoring ------------------------------------------------------------------------------------------

def project_holds(change, adapters, touched: set[str]) -> None:
    """Scoring's projection (bootstrap.scoring_pipeline): put newly held events on the review list and take off
    it events no longer held (the rule's numbers changed). Idempotent: a recompute writes nothing it wrote before.
    Costs nothing for a learner who never had a held event (the snapshot read no review items for them)."""
    held, known = change.scored.holds, change.snapshot.reviews
    fresh = [hold for event_id, hold in held.items()
             if event_id not in known or (known[event_id].status == HELD and known[event_id].hold != hold)]
    if fresh:
        adapters.reviews.hold(fresh, datetime.now(timezone.utc))
    stale = [r.hold for event_id, r in known.items() if r.status == HELD and event_id not in held]
    if stale:
        adapters.reviews.unhold(stale)


# --- routes -------------------------------------------------------------------------------------------------

def held_list(principal, adapters, limit, cursor) -> dict:
    require_national_admin(principal)
    size = parse_limit(limit, 20, adapters.limits.max_page_size)
    reviews, position = adapters.reviews.held_page(size, decode_cursor(cursor, HELD_POSITION) if cursor else None)
    return {"held": [review_json(r) for r in reviews], "next_cursor": encode_cursor(position) if position else None}


def decide(event_id: str, raw_body: Optional[bytes], principal, adapters, now: datetime, status: str) -> dict:
    """Release or reject one held event (national admins only). Idempotent; decisions are final."""
    require_national_admin(principal)
    learner_id, note = _decision_body(raw_body)
    if not is_id(event_id):
        raise not_found(f"event {event_id[:128]}")
    events = adapters.events.stream(f"learner:{learner_id}")
    if not any(e.id == event_id for e in events):
        raise not_found(f"event {event_id} of learner {learner_id}")
    hold = abuse.holds(events, adapters.rules).get(event_id)
    if hold is None:
        raise ApiError(409, "not_held", f"event {event_id} is not held for review: it is scored like any other",
                       "event_id")
    try:
        decided = adapters.reviews.decide(hold, status, principal.sub, now, note)
    except AlreadyDecided as exc:
        raise ApiError(409, "already_decided", f"event {event_id} was already {exc.review.status}; "
                       "decisions are final", "event_id") from None
    if decided.status == "rejected":  # a badge this event would have earned is not theirs: nor its credential
        publish([review_rejected(learner_id, event_id, principal.sub, now)], adapters, now)
    # Also on a repeated decision: the first call may have stored it and failed before queueing.
    adapters.queue.send([f"learner:{learner_id}"])
    return review_json(decided)


def _decision_body(raw_body: Optional[bytes]) -> tuple[str, Optional[str]]:
    body = json_object(raw_body, "a JSON object with learner_id")
    learner_id, note = body.get("learner_id"), body.get("note")
    if not is_id(learner_id):
        raise bad_request("learner_id", "is required: the id of the learner whose event this is "
                          "(1 to 128 letters, digits or _.:@-)")
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX or not storable_text(note)):
        raise bad_request("note", f"must be a string of at most {NOTE_MAX} characters of valid Unicode")
    return learner_id, (note.strip() or None) if note else None


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return utc_iso(moment) if moment else None


def review_json(r: Review) -> dict:
    h = r.hold
    return {"event_id": h.event_id, "learner_id": h.learner_id, "org_id": h.org_id, "type": h.type,
            "occurred_at": _iso(h.occurred_at), "status": r.status, "held_at": _iso(r.held_at),
            "why": {"rule": h.rule, "count": h.count, "limit": h.limit, "window_minutes": h.window_minutes,
                    "message": h.why},
            "decided_by": r.decided_by, "decided_at": _iso(r.decided_at), "note": r.note}
