"""POST /v1/events: verify, validate, store durably, queue for scoring; then, and only then, say 2xx."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from chalicelib.errors import ApiError, bad_request
from chalicelib.events import Event, InvalidEvent, parse_event, parse_stored, stream_of
from chalicelib.ingestion import signature
from chalicelib.rules.privacy import personal_fields, without_personal_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    id: Optional[str]
    status: str  # accepted | duplicate | rejected
    error: Optional[dict] = None

    def as_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "error": self.error}


def accept_events(raw_events: list, adapters, now: datetime) -> list[Outcome]:
    """Store each valid event once; one bad event never affects the others. What was stored is queued even when
    a later store fails (the exception then propagates: a storage outage is worth the platform's retry)."""
    outcomes, valid = [], []
    for raw in raw_events:
        raw_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        try:
            event, body_hash = _checked(raw, adapters.limits, now)
        except InvalidEvent as exc:
            outcomes.append(Outcome(raw_id, "rejected", {"field": exc.field, "message": exc.problem}))
            continue
        valid.append((len(outcomes), event, body_hash))
        outcomes.append(None)
    hashes = {position: body_hash for position, _, body_hash in valid}
    streams, stored = [], []
    try:
        for position, event in _erasure_kept([(p, e) for p, e, _ in valid], adapters):
            if adapters.events.add(event, now, hashes[position]):
                outcomes[position] = Outcome(event.id, "accepted")
                stored.append(event)
            elif adapters.events.body_hash(stream_of(event), event.id) in (None, hashes[position]):
                outcomes[position] = Outcome(event.id, "duplicate")
                stored.append(event)  # a retry after a failure below must still reach the directory
            else:  # the id is taken by another body: nothing overwritten, nothing queued
                outcomes[position] = Outcome(event.id, "rejected", {
                    "field": "id", "code": "conflict",
                    "message": "an event with this id and a different body was already received"})
                continue
            # Duplicates are queued again too: the first delivery may have been stored but never queued.
            streams.append(stream_of(event))
    finally:
        if streams:
            adapters.queue.send(streams)
    _keep_directory_current(stored, adapters, now)  # as stored: an erased learner's without personal data
    return outcomes


def _keep_directory_current(accepted: list[Event], adapters, now: datetime) -> None:
    """Profile events keep the platform's user directory current, and release what waited for the learner
    (chalicelib/directory/service.py). Only when the request carried one."""
    profiles = sorted((e for e in accepted if e.type == "learner.upserted"), key=lambda e: e.order_key)
    if profiles:
        from chalicelib.directory.service import learn_from_profiles
        learn_from_profiles(profiles, adapters, now)


def _checked(raw, limits, now: datetime) -> tuple[Event, str]:
    """One event validated against the contract and the limits, with the hash of its content (a re-sent id must
    carry the same). Raises InvalidEvent naming the field; never anything else, whatever `raw` holds."""
    try:
        too_deep = _too_deep(raw, limits.max_event_depth)
        if too_deep is not None:
            raise InvalidEvent(too_deep or "event", f"is nested deeper than {limits.max_event_depth} levels")
        try:
            size = len(json.dumps(raw, ensure_ascii=False).encode())
        except UnicodeEncodeError:  # JSON allows "\ud800"; it is not text, and could never be stored
            raise InvalidEvent("event", "has a string with an unpaired surrogate (\\ud800-\\udfff)") from None
        if size > limits.max_event_bytes:
            raise InvalidEvent("event", f"is over {limits.max_event_bytes} bytes")
        event = parse_event(raw)
        earliest = datetime.fromisoformat(limits.earliest_occurred_at)
        if event.occurred_at < earliest:
            raise InvalidEvent("occurred_at", f"is before {limits.earliest_occurred_at}")
        if event.occurred_at > now + timedelta(seconds=limits.future_tolerance_seconds):
            raise InvalidEvent("occurred_at", "is in the future")
        canonical = json.dumps(event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False)
        return event, hashlib.sha256(canonical.encode()).hexdigest()
    except InvalidEvent:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever else a body can provoke is this event's problem, not a 5xx
        log.warning("event refused by an unexpected %s", type(exc).__name__)
        raise InvalidEvent("event", "could not be read") from None


def _too_deep(value, limit: int) -> Optional[str]:
    """The dotted path of the first value nested deeper than `limit` objects/arrays (the event itself is level
    1), or None. Iterative: a deep document must not exhaust the stack that checks it."""
    stack: list[tuple[object, int, list[str]]] = [(value, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return ".".join(path)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((child, depth + 1, path + [str(key)]) for key, child in items)
    return None


def _erasure_kept(valid: list[tuple[int, Event]], adapters) -> list[tuple[int, Event]]:
    """Events of erased learners lose their personal data before they are stored (learners/erasure.py).
    One batch read, and only when some event of the request carries personal data at all."""
    personal = {e.learner.id for _, e in valid
                if hasattr(e, "learner") and personal_fields(e.learner.model_dump(mode="json"))}
    erased = adapters.learners.erased(sorted(personal)) if personal else set()
    return [(position, parse_stored(without_personal_data(e.model_dump(mode="json")))
             if hasattr(e, "learner") and e.learner.id in erased else e) for position, e in valid]


def handle(raw_body: bytes, signature_header: Optional[str], adapters, now: datetime) -> tuple[int, dict]:
    """The whole webhook: (HTTP status, JSON body). Raises ApiError for a request we refuse as a whole."""
    limits = adapters.limits
    if len(raw_body) > limits.max_body_bytes:
        raise ApiError(413, "payload_too_large", f"body is over {limits.max_body_bytes} bytes", "body")
    signature.verify(signature_header, raw_body, adapters.webhook_secrets(), now.timestamp(),
                     limits.signature_tolerance_seconds)
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("body", "is not valid JSON", "invalid_json") from None
    except RecursionError:
        raise bad_request("body", f"is nested too deeply (an event may nest {limits.max_event_depth} levels)",
                          "invalid_json") from None
    if isinstance(payload, list):
        if not payload:
            raise bad_request("body", "a batch must hold at least one event")
        if len(payload) > limits.max_batch_events:
            raise ApiError(413, "batch_too_large",
                           f"a batch holds at most {limits.max_batch_events} events, got {len(payload)}", "body")
        outcomes = accept_events(payload, adapters, now)
        return 202, {"results": [o.as_dict() for o in outcomes]}
    outcome = accept_events([payload], adapters, now)[0]
    if outcome.status == "rejected" and outcome.error.get("code") == "conflict":
        raise ApiError(409, "conflict", outcome.error["message"], "id")
    if outcome.status == "rejected":
        raise ApiError(400, "invalid_event", f"{outcome.error['field']}: {outcome.error['message']}",
                       outcome.error["field"])
    return 202, {"results": [outcome.as_dict()]}
