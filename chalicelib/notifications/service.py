"""Use cases at the edges of notifications: SES bounce and complaint events, a learner's delivery records,
one-click unsubscribe, and the local /dev/outbox page."""
from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from typing import Optional

from chalicelib import settings
from chalicelib.errors import ApiError, bad_request, not_found
from chalicelib.learners import preferences
from chalicelib.learners.service import readable_learner
from chalicelib.notifications import messages, policy, unsubscribe
from chalicelib.notifications.outbox import contact_of
from chalicelib.paging import decode_cursor, encode_cursor, parse_limit
from chalicelib.rules.periods import utc_iso

NOTIFICATION_CURSOR = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|[a-z_]{1,40}#[A-Za-z0-9_.:@\-#]{1,200}"


# --- SES bounces and complaints (SNS) ---------------------------------------------------------------------

def addresses_to_suppress(notification: dict) -> list[tuple[str, str]]:
    """(address, reason) from one SES notification (identity notifications use notificationType, configuration
    set event destinations eventType). Permanent bounces and complaints suppress; transient bounces do not."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        reason = f"bounce: {bounce.get('bounceSubType') or 'Permanent'}"
        return [(r["emailAddress"], reason) for r in bounce.get("bouncedRecipients") or [] if r.get("emailAddress")]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        reason = f"complaint: {complaint.get('complaintFeedbackType') or 'abuse'}"
        return [(r["emailAddress"], reason) for r in complaint.get("complainedRecipients") or []
                if r.get("emailAddress")]
    return []


def record_ses_event(message: str, adapters, now: datetime, log) -> int:
    """Suppress what one SNS message from SES names. Returns how many addresses; never logs them."""
    try:
        notification = json.loads(message)
    except ValueError:
        log.warning("SES event is not JSON: ignored")
        return 0
    found = addresses_to_suppress(notification) if isinstance(notification, dict) else []
    for address, reason in found:
        adapters.notifications.suppressions.add("email", address, reason, now)
    if found:
        log.info("addresses suppressed", extra={"count": len(found), "reason": found[0][1]})
    return len(found)


# --- a learner's delivery records ----------------------------------------------------------------------------

def record_view(n) -> dict:
    return {"id": n.dedupe_key, "kind": n.kind, "category": n.category, "channel": n.channel, "locale": n.locale,
            "status": n.status, "reason": n.reason, "provider_message_id": n.provider_id,
            "dlt_template_id": n.dlt_template_id, "created_at": utc_iso(n.created_at),
            "not_before": utc_iso(n.not_before), "sent_at": utc_iso(n.sent_at) if n.sent_at else None}


def notifications_page(learner_id: str, principal, adapters, limit, cursor) -> dict:
    """The learner themself, an admin of their org or a national admin: newest first."""
    readable_learner(learner_id, principal, adapters)
    size = parse_limit(limit, 20, adapters.limits.max_page_size)
    before = decode_cursor(cursor, NOTIFICATION_CURSOR) if cursor else None
    items, more = adapters.notifications.store.page(learner_id, size, before)
    return {"learner_id": learner_id, "notifications": [record_view(n) for n in items],
            "next_cursor": encode_cursor(more) if more else None}


# --- one-click unsubscribe (RFC 8058) ---------------------------------------------------------------------------

def _claims(token: Optional[str], secrets=None) -> tuple[str, str]:
    if not token:
        raise bad_request("token", "is required")
    try:
        return unsubscribe.read_token(token, secrets=secrets)
    except unsubscribe.InvalidToken:
        raise bad_request("token", "is not a valid unsubscribe link", "invalid_token") from None


_CATEGORY_WORDS = {"awards": "award notices", "campaign_reminders": "campaign reminders",
                   "nudges": "learning reminders", "admin_summaries": "weekly summaries"}


def unsubscribe_page(token: Optional[str], adapters=None) -> str:
    """GET: a confirmation page whose button POSTs (mail scanners follow links; only a POST unsubscribes)."""
    _, category = _claims(token, adapters.unsubscribe_secrets if adapters is not None else None)
    words = _CATEGORY_WORDS[category]
    action = html.escape(f"{unsubscribe.UNSUBSCRIBE_PATH}?token={token}", quote=True)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>"
            f"<body><h1>Stop {words} by email?</h1><p>You will no longer receive {words} from iGOT Karmayogi by "
            f"email. You can turn them back on in your preferences.</p><form method=\"post\" action=\"{action}\">"
            f"<button type=\"submit\">Unsubscribe</button></form></body></html>")


def unsubscribe_now(token: Optional[str], adapters) -> dict:
    """POST (one click): the category's email channel off in the learner's preferences. Idempotent."""
    learner_id, category = _claims(token, adapters.unsubscribe_secrets)
    stored = adapters.learners.get(learner_id)
    if stored is None:
        raise not_found("learner")
    chosen = preferences.without_channel(stored.preferences, category, "email")
    if not adapters.learners.set_preferences(learner_id, chosen):
        raise not_found("learner")
    return {"learner_id": learner_id, "category": category, "email": False}


# --- local only: what was sent, as the recipient sees it -----------------------------------------------------------

def dev_outbox_page(adapters, now: datetime, limit: int = 50) -> str:
    if settings.STAGE != "local":
        raise ApiError(404, "not_found", "no such page")
    n = adapters.notifications
    config = n.settings()
    today = policy.local_date_of(now, config)
    records = []
    for day in (today, today - timedelta(days=1)):
        records += n.store.on_day(day.isoformat(), config.pending_shards, limit)
    rows = []
    for record in records[:limit]:
        contact = contact_of(record.learner_id, adapters)
        context = {**record.context, "learner_id": record.learner_id, "name": contact.name if contact else ""}
        try:
            message = messages.render(record.kind, record.locale, context, base_url=settings.PUBLIC_BASE_URL,
                                      unsubscribe_secrets=adapters.unsubscribe_secrets())
        except Exception as exc:  # noqa: BLE001 (a page for developers: show the problem, keep the rest)
            rows.append(f"<section><h2>{html.escape(record.kind)}</h2><p>cannot render: "
                        f"{html.escape(type(exc).__name__)}</p></section>")
            continue
        head = (f"<h2>{html.escape(record.kind)} &middot; {record.channel} &middot; {record.locale} &middot; "
                f"<b>{record.status}</b></h2><p>{html.escape(record.learner_id)} &middot; "
                f"{utc_iso(record.created_at)}" + (f" &middot; {html.escape(record.reason)}" if record.reason else "")
                + "</p>")
        if record.channel == "sms":
            count = message.sms_segments.count if message.sms_segments else 0
            encoding = message.sms_segments.encoding if message.sms_segments else "-"
            body = (f"<pre>{html.escape(message.sms or '(no SMS template)')}</pre><p>{count} segment(s), "
                    f"{encoding}, DLT template {html.escape(message.dlt_template_id or 'none')}</p>")
        else:
            body = (f"<p>Subject: <b>{html.escape(message.subject)}</b></p><iframe style=\"width:100%;height:480px\""
                    f" srcdoc=\"{html.escape(message.html, quote=True)}\"></iframe>")
        rows.append(f"<section>{head}{body}</section>")
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Outbox</title></head><body>"
            f"<h1>Outbox (local): {len(rows)} message(s), today and yesterday</h1>" + "".join(rows)
            + "</body></html>")
