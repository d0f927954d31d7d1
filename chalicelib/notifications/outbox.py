"""Deciding to send: one outbox record per (learner, kind, campaign or period), written with a conditional put,
then a queue message asks the consumer (delivery.py) to send it. The same decision twice writes once; a crash
between the write and the queue message is repaired by the sweeper, which re-queues records still pending a
few minutes after they were due (and those deferred by quiet hours, once their time comes).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

from chalicelib.learners import preferences
from chalicelib.notifications import messages, policy
from chalicelib.rules.periods import utc_stamp
from chalicelib.notifications.store import Notification, shard_of


@dataclass(frozen=True)
class Intent:
    """What a use case wants said to one learner. `period` makes the dedupe key: a campaign id, an hour window,
    a week, a ladder rung of one spell of inactivity."""
    learner_id: str
    kind: str
    period: str
    context: dict = field(default_factory=dict)  # the template's variables, without name or contact details
    org_id: Optional[str] = None
    campaign_id: Optional[str] = None  # SMS budget per org per campaign
    prefer_sms: bool = False  # the ladder's SMS rung

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}#{self.period}"


@dataclass(frozen=True)
class Decision:
    status: str  # queued | duplicate | capped | unreachable
    reason: Optional[str] = None
    channel: Optional[str] = None
    not_before: Optional[datetime] = None


@dataclass(frozen=True)
class Contact:
    """Who receives it, looked up when needed and never stored with the record or logged."""
    name: str
    email: Optional[str]
    phone: Optional[str]
    locale: str
    stored_preferences: Optional[dict]
    org_id: Optional[str]


def contact_of(learner_id: str, adapters) -> Optional[Contact]:
    """From the learner record, else the roster (employees who never started). None: unknown or erased."""
    stored = adapters.learners.get(learner_id)
    if stored is not None:
        if stored.erased_at is not None:
            return None
        profile = stored.standing.profile
        chosen = preferences.effective(stored.preferences, profile.language)
        email, phone = profile.email, profile.phone
        if not (email and phone):  # the platform's events may lack them: the org's roster may know them
            employee = adapters.rosters.get(learner_id)
            # Only the roster of the learner's own org (as the platform says) fills a gap, and never replaces
            # what the platform sent: another org's roster row must not redirect their messages.
            if employee is not None and (profile.org_id is None or employee.org_id == profile.org_id):
                email, phone = email or employee.email, phone or employee.phone
        return Contact(profile.name or "", email, phone, chosen.language, stored.preferences, profile.org_id)
    employee = adapters.rosters.get(learner_id)
    if employee is None:
        return None
    chosen = preferences.effective(None, employee.language)
    return Contact(employee.name or "", employee.email, employee.phone, chosen.language, None, employee.org_id)


def budget_key(intent: Intent, org_id: Optional[str], now: datetime, config: policy.Config) -> str:
    scope = intent.campaign_id or "month:" + now.astimezone(config.timezone).strftime("%Y-%m")
    return f"sms#{org_id or '-'}#{scope}"


def decide(intent: Intent, adapters, now: datetime) -> Decision:
    """Record the decision to send (once) and queue it; or say why not (duplicate, a cap, no way to reach)."""
    n = adapters.notifications
    config = n.settings()
    category = policy.CATEGORY_OF[intent.kind]
    if n.store.get(intent.learner_id, intent.dedupe_key) is not None:
        return Decision("duplicate")
    history = [policy.Sent(r.category, r.created_at, r.status)
               for r in n.store.recent(intent.learner_id, now - timedelta(days=config.history_days))]
    refusal = policy.cap_refusal(category, history, now, config)
    if refusal:
        return Decision("capped", refusal)
    contact = contact_of(intent.learner_id, adapters)
    if contact is None:
        return Decision("unreachable", "unknown or erased learner")
    org_id = intent.org_id or contact.org_id
    email_allowed = preferences.channel_allowed(contact.stored_preferences, category, "email")
    sms_allowed = preferences.channel_allowed(contact.stored_preferences, category, "sms")
    email_suppressed = bool(contact.email and n.suppressions.reason("email", contact.email))
    # The SMS checks (one of them an SNS call) only when SMS could be chosen.
    sms_possible = bool(sms_allowed and contact.phone and (
        intent.prefer_sms or not (email_allowed and contact.email and not email_suppressed)))
    reach = policy.Reach(
        email_allowed=email_allowed, sms_allowed=sms_allowed, has_email=bool(contact.email),
        email_suppressed=email_suppressed, has_phone=bool(contact.phone),
        sms_opted_out=bool(sms_possible and _opted_out(contact.phone, adapters)),
        sms_template=bool(sms_possible and messages.sms_allowed(intent.kind, contact.locale)))
    channel, why = policy.choose_channel(category, reach, intent.prefer_sms)
    if channel == "sms" and not n.counters.take(budget_key(intent, org_id, now, config), config.sms_budget):
        channel, why = policy.choose_channel(category, _replace(reach, sms_budget_left=False), intent.prefer_sms)
    if channel is None:
        return Decision("unreachable", why)
    not_before = policy.earliest_send(channel, category, now, config)
    shard = shard_of(f"{intent.learner_id}|{intent.dedupe_key}", config.pending_shards)
    record = Notification(
        intent.learner_id, intent.dedupe_key, intent.kind, category, channel, contact.locale, intent.context,
        org_id, policy.QUEUED, now, not_before, now, day=policy.local_date_of(now, config).isoformat(),
        shard=shard, due_at=utc_stamp(not_before if not_before > now else now + config.requeue_after))
    if not n.store.put_new(record):
        return Decision("duplicate")
    if not_before <= now:
        n.queue.send([(intent.learner_id, intent.dedupe_key)])
    return Decision("queued", why, channel, not_before)



def decide_for_learner(learner_id: str, kind: str, key: str, context: dict, adapters, now: datetime):
    """decide() for a message about a learner's points: their total now and their org (for the org's caps) are
    read here, once, so every fact handler that tells a learner something says the same."""
    stored = adapters.learners.get(learner_id)
    context = {**context, "total_points": stored.standing.points if stored else 0}
    return decide(Intent(learner_id, kind, key, context, stored.standing.profile.org_id if stored else None),
                  adapters, now)

def _replace(reach, **changes):
    return dataclasses.replace(reach, **changes)


def _opted_out(phone: str, adapters) -> bool:
    n = adapters.notifications
    return bool(n.suppressions.reason("sms", phone)) or n.sms.opted_out(phone)


def sweep(adapters, now: datetime) -> int:
    """Queue again every pending record whose due time has passed: lost queue messages, crashed deliveries,
    and messages deferred by quiet hours. Idempotent: a record queued twice is sent once (delivery claims it)."""
    n = adapters.notifications
    config = n.settings()
    queued = 0
    for shard in range(config.pending_shards):
        for record in n.store.due(shard, now, config.sweep_limit):
            n.queue.send([(record.learner_id, record.dedupe_key)])
            n.store.requeued(record.learner_id, record.dedupe_key, now + config.requeue_after)
            queued += 1
    return queued
