"""The queue consumer: send one outbox record, at most once however often its message is delivered.

A record is claimed with a condition (queued or failed -> sending, or a crashed sending whose lease ran out),
then checked against preferences, the suppression list and SMS opt-outs, rendered, sent with a few in-process
retries, and marked sent with the provider's id. A transient failure goes back to "queued" with its reason and
the message is retried by SQS; on the last receive it is marked failed and the message moves to the
dead-letter queue (`make replay-dlq QUEUE=notifications` brings it back once the cause is fixed).
"""
from __future__ import annotations

from datetime import datetime

from chalicelib import deadletters, settings
from chalicelib.learners import preferences
from chalicelib.notifications import messages, nudges, policy
from chalicelib.notifications.outbox import contact_of
from chalicelib.notifications.sending import Email, SendError, Sms, classify, with_retries
from chalicelib.rules.periods import utc_stamp


def _render_context(record, contact) -> dict:
    return {**record.context, "learner_id": record.learner_id, "name": contact.name}


# The reason on a record whose sending lease ran out once (a delivery died mid-send) and was taken over.
LEASE_RAN_OUT = "its sending lease ran out (the delivery died mid-send)"


def deliver(learner_id: str, key: str, adapters, now: datetime, final_attempt: bool = False) -> str:
    """Returns what happened: sent, suppressed, failed, skipped (not ours / not yet due), retry (transient) or
    dead (failed for good: the message goes to the dead-letter queue with the record's reason)."""
    n = adapters.notifications
    config = n.settings()
    record = n.store.get(learner_id, key)
    if record is None or record.status in (policy.SENT, policy.SUPPRESSED):
        return "skipped"
    if record.not_before > now:
        return "skipped"  # deferred (quiet hours): the sweeper queues it when its time comes
    if record.status == policy.SENDING and (record.lease_until or "") < utc_stamp(now):
        # A delivery died holding it. Once may be a passing crash: take it over. Twice is this message killing
        # its sender (a timeout, memory): finished failed, not swept again for ever.
        if record.reason == LEASE_RAN_OUT:
            _finish(n, record, policy.FAILED, now, f"{LEASE_RAN_OUT} twice")
            return "dead"
        try:
            n.store.release(learner_id, key, now, LEASE_RAN_OUT, now)
        except Exception:  # noqa: BLE001 - another delivery took it over first (or finished it)
            return "skipped"
    claimed = n.store.claim(learner_id, key, now, now + config.sending_lease)
    if claimed is None:
        return "skipped"  # another delivery holds it, or it is done
    try:
        return _deliver_claimed(claimed, adapters, now, final_attempt)
    except Exception as exc:  # noqa: BLE001 - never leave the record "sending": it would be swept for ever
        reason = deadletters.reason_of(exc)
        if final_attempt:
            _finish(n, claimed, policy.FAILED, now, f"error: {reason}")
            return "dead"
        if classify(exc).transient:  # DynamoDB throttled, a lost connection: queued again, SQS retries
            n.store.release(learner_id, key, now, f"transient: {reason}", now + config.requeue_after)
        else:  # failed (off the sweeper's list) with its reason; SQS retries, and a failed record may be claimed
            _finish(n, claimed, policy.FAILED, now, f"error: {reason}")
        return "retry"


def _deliver_claimed(claimed, adapters, now: datetime, final_attempt: bool) -> str:
    n = adapters.notifications
    config = n.settings()
    learner_id, key = claimed.learner_id, claimed.dedupe_key
    contact = contact_of(learner_id, adapters)
    if contact is None:
        return _finish(n, claimed, policy.SUPPRESSED, now, "unknown or erased learner")
    if claimed.category == "nudges" and not nudges.still_inactive(claimed, adapters):
        return _finish(n, claimed, policy.SUPPRESSED, now, "the learner learned again")
    if not preferences.channel_allowed(contact.stored_preferences, claimed.category, claimed.channel):
        return _finish(n, claimed, policy.SUPPRESSED, now, f"{claimed.category} by {claimed.channel} turned off")
    try:
        message = messages.render(claimed.kind, claimed.locale, _render_context(claimed, contact),
                                  base_url=settings.PUBLIC_BASE_URL,
                                  unsubscribe_secrets=adapters.unsubscribe_secrets())
    except Exception as exc:  # noqa: BLE001 - bad data in the context: no retry renders it, dead-lettered now
        _finish(n, claimed, policy.FAILED, now, f"cannot be rendered: {deadletters.reason_of(exc)}")
        return "dead"
    try:
        if claimed.channel == "email":
            if not contact.email:
                return _finish(n, claimed, policy.SUPPRESSED, now, "no email address")
            why = n.suppressions.reason("email", contact.email)
            if why:
                return _finish(n, claimed, policy.SUPPRESSED, now, f"address suppressed: {why}")
            email = Email(contact.email, message.subject, message.html, message.text, dict(message.headers))
            provider_id = with_retries(lambda: n.email.send(email), config.attempts_in_process,
                                       config.backoff_base_seconds, n.sleep)
            return _sent(n, claimed, now, config, provider_id)
        if not message.sms or not message.dlt_template_id:
            return _finish(n, claimed, policy.SUPPRESSED, now, "no DLT-registered SMS template")
        if not contact.phone:
            return _finish(n, claimed, policy.SUPPRESSED, now, "no phone number")
        if n.suppressions.reason("sms", contact.phone) or n.sms.opted_out(contact.phone):
            return _finish(n, claimed, policy.SUPPRESSED, now, "number opted out of SMS")
        sms = Sms(contact.phone, message.sms, messages.dlt_entity_id(), message.dlt_template_id,
                  messages.dlt_sender_id())
        provider_id = with_retries(lambda: n.sms.send(sms), config.attempts_in_process,
                                   config.backoff_base_seconds, n.sleep)
        return _sent(n, claimed, now, config, provider_id, message.dlt_template_id)
    except SendError as error:
        # Permanent errors too (an unverified sender is fixed by configuration): SQS tries again, and after the
        # last receive the message waits in the dead-letter queue, its reason on the delivery record.
        reason = ("transient: " if error.transient else "rejected: ") + error.reason
        if not final_attempt:
            n.store.release(learner_id, key, now, reason, now + config.requeue_after)
            return "retry"
        _finish(n, claimed, policy.FAILED, now, reason)
        return "dead"


def _sent(n, record, now, config, provider_id, dlt=None) -> str:
    """Mark sent once the provider took the message, trying a few times: a record left "sending" would be sent
    again once its lease runs out (the provider has no idempotency key), so this write must not be lost to a
    passing DynamoDB error. Only a process that dies right here can still cause a second send."""
    for attempt in range(config.attempts_in_process):
        try:
            return _finish(n, record, policy.SENT, now, provider_id=provider_id, dlt=dlt)
        except Exception:  # noqa: BLE001 (throttled, a lost connection: the same write again is harmless)
            if attempt == config.attempts_in_process - 1:
                raise
            n.sleep(config.backoff_base_seconds * (2 ** attempt))
    raise AssertionError("unreachable")


def _finish(n, record, status, now, reason=None, provider_id=None, dlt=None) -> str:
    n.store.finish(record.learner_id, record.dedupe_key, status, now, reason, provider_id, dlt)
    return status


def deliver_batch(items: list[tuple[str, str, str, int]], adapters, now: datetime, log,
                  reasons: dict[str, str] | None = None, final: set[str] | None = None) -> list[str]:
    """One SQS batch: (message id, learner id, key, receive count). Returns the message ids that failed: a
    transient failure (retried by SQS) and one marked failed (reason recorded on the delivery record; app.py
    hands these to chalicelib/deadletters.py, which moves them to the dead-letter queue with the reason).
    `reasons`, if given, gets message id -> why; `final` the ids failed for good (their record is finished
    failed: dead-lettered now, whatever the receive count). One bad item never sinks the batch."""
    config = adapters.notifications.settings()
    retry = []
    for message_id, learner_id, key, receives in items:
        try:
            outcome = deliver(learner_id, key, adapters, now, final_attempt=receives >= config.max_receives)
        except Exception as exc:  # noqa: BLE001 (a bug or an outage: SQS retries, then the DLQ)
            log.error("notification delivery failed", extra={"kind": key.split("#")[0], "error": type(exc).__name__})
            retry.append(message_id)
            if reasons is not None:
                reasons[message_id] = deadletters.reason_of(exc)
            continue
        if outcome in ("retry", "dead"):
            log.warning("notification not sent", extra={"kind": key.split("#")[0], "outcome": outcome})
            retry.append(message_id)
            if outcome == "dead" and final is not None:
                final.add(message_id)
            if reasons is not None:
                record = adapters.notifications.store.get(learner_id, key)
                reasons[message_id] = (record.reason if record is not None and record.reason else outcome)
    return retry
