"""POST /v1/events: verify, validate, store durably, queue for scoring; then, and only then, say 2xx."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from chalicelib.errors import ApiError, bad_request
from chalicelib.events import Event, InvalidEvent, parse_event, parse_stored, stream_of
from chalicelib.ingestion import signature
from chalicelib.rules.privacy import personal_fields, without_personal_data


@dataclass(frozen=True)
class Outcome:
    id: Optional[str]
    status: str  # accepted | duplicate | rejected
    error: Optional[dict] = None

    def as_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "error": self.error}


def accept_events(raw_events: list, adapters, now: datetime) -> list[Outcome]:
    """Store each valid event once; one bad event never affects the others."""
    outcomes, streams, valid = [], [], []
    latest_allowed = now + timedelta(seconds=adapters.limits.future_tolerance_seconds)
    for raw in raw_events:
        raw_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        try:
            try:
                size = len(json.dumps(raw, ensure_ascii=False).encode())
            except UnicodeEncodeError:  # JSON allows "\ud800"; it is not text, and could never be stored
                raise InvalidEvent("event", "has a string with an unpaired surrogate (\\ud800-\\udfff)") from None
            if size > adapters.limits.max_event_bytes:
                raise InvalidEvent("event", f"is over {adapters.limits.max_event_bytes} bytes")
            event = parse_event(raw)
            if event.occurred_at > latest_allowed:
                raise InvalidEvent("occurred_at", "is in the future")
        except InvalidEvent as exc:
            outcomes.append(Outcome(raw_id, "rejected", {"field": exc.field, "message": exc.problem}))
            continue
        valid.append((len(outcomes), event))
        outcomes.append(None)
    for position, event in _erasure_kept(valid, adapters):
        is_new = adapters.events.add(event, now)
        outcomes[position] = Outcome(event.id, "accepted" if is_new else "duplicate")
        # Duplicates are queued again too: the first delivery may have been stored but never queued.
        streams.append(stream_of(event))
    adapters.queue.send(streams)
    return outcomes


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
    if isinstance(payload, list):
        if not payload:
            raise bad_request("body", "a batch must hold at least one event")
        if len(payload) > limits.max_batch_events:
            raise ApiError(413, "batch_too_large",
                           f"a batch holds at most {limits.max_batch_events} events, got {len(payload)}", "body")
        outcomes = accept_events(payload, adapters, now)
        return 202, {"results": [o.as_dict() for o in outcomes]}
    outcome = accept_events([payload], adapters, now)[0]
    if outcome.status == "rejected":
        raise ApiError(400, "invalid_event", f"{outcome.error['field']}: {outcome.error['message']}",
                       outcome.error["field"])
    return 202, {"results": [outcome.as_dict()]}
