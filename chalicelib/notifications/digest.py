"""Badge digests: the "badge.awarded" facts scoring records become one message per learner per window.

Facts reach us through the domain-events table's sparse `pending` index (set when scoring writes a fact,
removed here once consumed), polled every minute: a poll reads only facts not yet consumed and recorded before
the current window began, so its cost follows new awards, not the table. A window's facts are decided as one
digest with the dedupe key (learner, badge_awarded, window): a poll that runs twice, or crashes before
consuming, decides the same digest again and sends it once.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from chalicelib.facts import BADGE_AWARDED, DomainEvent, FactHandler, consume, pending_for
from chalicelib.notifications import policy
from chalicelib.notifications.outbox import decide_for_learner

BATCH = 500


def current_window_start(adapters, now: datetime) -> datetime:
    """Facts recorded before this are in closed windows: their digests are due."""
    config = adapters.notifications.settings()
    window_end, _ = policy.digest_window(now, config)
    return window_end - timedelta(minutes=config.digest_window_minutes)


def send_digests(facts: list[DomainEvent], adapters, now: datetime, log=None) -> int:
    """The badge.awarded handler (bootstrap.FACT_HANDLERS): one digest per learner and closed window; returns
    how many were queued."""
    config = adapters.notifications.settings()
    groups = defaultdict(list)
    for fact in facts:
        groups[(fact.learner_id, policy.digest_window(fact.recorded, config)[1])].append(fact)
    catalogue = {b.id: b for b in adapters.catalogue}
    queued = 0
    for (learner_id, window), group in sorted(groups.items()):
        badges = [_badge(fact.payload, catalogue) for fact in sorted(group, key=lambda f: (f.occurred_at, f.id))]
        try:
            decision = decide_for_learner(learner_id, "badge_awarded", window, {"badges": badges}, adapters, now)
        except Exception as exc:  # noqa: BLE001 (one learner's trouble must not hold up the others)
            if log:
                log.error("badge digest failed", extra={"error": type(exc).__name__})
            continue  # left pending: the next run tries again
        queued += decision.status == "queued"
        consume(adapters, group)
    return queued


HANDLER = FactHandler(send_digests, current_window_start, BATCH)


def send_badge_digests(adapters, now: datetime, log=None) -> int:
    """Decide the digests of every closed window now; returns how many were queued."""
    return send_digests(pending_for(BADGE_AWARDED, HANDLER, adapters, now), adapters, now, log)


def _badge(payload: dict, catalogue) -> dict:
    """Scoring's badges are in the catalogue; a campaign's badges (campaign.<id>.goal/top) are not, and their
    fact carries its own name and description (campaigns/service.py, closing)."""
    badge_id = payload.get("badge_id")
    badge = catalogue.get(badge_id)
    if badge is not None:
        return {"id": badge_id, "name": badge.name, "description": badge.description}
    return {"id": badge_id, "name": payload.get("name") or badge_id, "description": payload.get("description") or ""}
