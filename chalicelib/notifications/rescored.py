"""Telling a learner that a rule version moved their points: the "rules.rescored" fact's handler.

Scoring records one fact per learner and rule version, the first time that version's corrections reach their
ledger (scoring/compute.py), with the save that writes them. Here each becomes one message (kind rules_changed,
dedupe key the version): in the learner's language, on the channel the policy picks, under the same caps and
quiet hours as every other message. A handler run twice decides the same message again and sends it once.
"""
from __future__ import annotations

from datetime import datetime

from chalicelib.facts import DomainEvent, FactHandler
from chalicelib.notifications.outbox import decide_for_learner

BATCH = 500


def tell(facts: list[DomainEvent], adapters, now: datetime, log=None) -> int:
    from chalicelib.facts import consume
    from chalicelib.rules.config import as_book
    book = as_book(adapters.rules, adapters.catalogue)
    queued = 0
    for fact in facts:
        try:
            version = book.get(fact.payload["version"])
            context = {"version": fact.payload["version"], "reason": fact.payload["reason"],
                       "reasons": dict(version.translations) if version else {},
                       "points": int(fact.payload["points"])}
            decision = decide_for_learner(fact.learner_id, "rules_changed", fact.payload["version"], context,
                                          adapters, now)
        except Exception as exc:  # noqa: BLE001 (one learner's trouble must not hold up the others)
            if log:
                log.error("rules message failed", extra={"error": type(exc).__name__})
            continue  # left pending: the next run tries again
        queued += decision.status == "queued"
        consume(adapters, [fact])
    return queued


HANDLER = FactHandler(tell, batch=BATCH)
