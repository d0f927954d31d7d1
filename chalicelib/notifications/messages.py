"""Render a notification: subject, HTML and text email bodies, SMS text, DLT ids and unsubscribe headers.

Templates live in notifications/<locale>/<kind>/{subject.txt, body.html, body.txt, sms.txt} (see
templates_root()). Each part falls back to English on its own when the learner's locale lacks it. The SMS
part is chosen among the locales whose template is registered on DLT (notifications/dlt.toml): the learner's
locale, else English, else none, and then the message cannot go by SMS.

A variable missing from the context fails loudly (StrictUndefined), so a caller cannot send "Dear ,".
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Optional, Sequence

from jinja2 import Environment, TemplateNotFound, pass_context

from chalicelib import settings
from chalicelib.exports import template_environment
from chalicelib.notifications import templates_root
from chalicelib.notifications import formatting
from chalicelib.notifications.sms import Segments, clip, segments
from chalicelib.notifications.unsubscribe import unsubscribe_url

# Each kind and the preference category a learner can switch off (and unsubscribe from).
KINDS: dict[str, str] = {
    "badge_awarded": "awards",
    "rules_changed": "awards",  # a rule version moved the learner's points (notifications/rescored.py)
    "campaign_starting": "campaign_reminders",
    "campaign_halfway": "campaign_reminders",
    "campaign_last_day": "campaign_reminders",
    "campaign_results": "campaign_reminders",
    "nudge_inactive": "nudges",
    "nudge_never_started": "nudges",
    "admin_weekly_summary": "admin_summaries",
}
PARTS = ("subject.txt", "body.html", "body.txt", "sms.txt")


@dataclass(frozen=True)
class DltTemplate:
    template_id: str  # 19 digits, as issued by the operator's DLT portal
    text: str  # the content registered there, variables written {#var#}


@dataclass(frozen=True)
class Message:
    kind: str
    locale: str  # the locale the email was written in (the learner's, or the fallback)
    category: str
    subject: str
    html: str
    text: str
    sms: Optional[str]  # None: no DLT-registered SMS template for this kind, so no SMS
    dlt_template_id: Optional[str]
    headers: dict[str, str]
    sms_locale: Optional[str] = None
    sms_segments: Optional[Segments] = None
    part_locales: dict[str, str] = field(default_factory=dict)  # part file -> locale it came from


class UnknownKind(ValueError):
    pass


def normalise_locale(locale: Optional[str]) -> str:
    """hi-IN, hi_IN, HI -> hi. Anything else passes through (and falls back where no template exists)."""
    return re.split(r"[-_]", (locale or "").strip().lower(), maxsplit=1)[0] or formatting.fallback_locale()


# --- the environment: exports.template_environment (autoescaped HTML, plain .txt, StrictUndefined) + filters

def _locale_of(ctx) -> str:
    return ctx["locale"]


@pass_context
def _number(ctx, value, decimals=0):
    return formatting.format_number(value, _locale_of(ctx), decimals)


@pass_context
def _percent(ctx, value):
    return formatting.format_percent(value, _locale_of(ctx))


@pass_context
def _date(ctx, value, style="long"):
    return formatting.format_date(value, _locale_of(ctx), style)


@pass_context
def _date_short(ctx, value):
    return formatting.format_date(value, _locale_of(ctx), "short")


@pass_context
def _datetime(ctx, value):
    return formatting.format_datetime(value, _locale_of(ctx))


@pass_context
def _duration(ctx, value):
    return formatting.format_duration(value, _locale_of(ctx))


@pass_context
def _share_of(ctx, part, whole):
    """part as a percentage of whole: 36%; 0% of nobody."""
    return formatting.format_percent(100 * part / whole if whole else 0, _locale_of(ctx))


@pass_context
def _hours(ctx, value):
    return formatting.format_hours(value, _locale_of(ctx))


@lru_cache(maxsize=None)
def environment() -> Environment:
    env = template_environment(templates_root())
    env.filters.update(number=_number, percent=_percent, date=_date, date_short=_date_short,
                       datetime=_datetime, duration=_duration, hours=_hours, share_of=_share_of, clip=clip)
    return env


# --- DLT registrations

@lru_cache(maxsize=None)
def dlt_config() -> dict:
    with open(templates_root() / "dlt.toml", "rb") as f:
        return tomllib.load(f)


def dlt_entity_id() -> str:
    return dlt_config()["entity_id"]


def dlt_sender_id() -> str:
    return dlt_config()["sender_id"]


def dlt_template(kind: str, locale: str) -> Optional[DltTemplate]:
    entry = dlt_config().get("templates", {}).get(kind, {}).get(locale)
    return DltTemplate(entry["id"], entry["text"]) if entry else None


def dlt_pattern(registered_text: str) -> re.Pattern:
    """What operators check an SMS against: the registered text, each {#var#} standing for up to 30 characters."""
    pieces = [re.escape(piece) for piece in registered_text.split("{#var#}")]
    return re.compile("(?s)" + "(.{0,30})".join(pieces))


def matches_dlt(sms_text: str, registered_text: str) -> bool:
    return dlt_pattern(registered_text).fullmatch(sms_text) is not None


# --- choosing templates

def has_part(kind: str, locale: str, part: str) -> bool:
    try:
        environment().get_template(f"{locale}/{kind}/{part}")
        return True
    except TemplateNotFound:
        return False


def _part_locale(kind: str, locale: str, part: str) -> str:
    fallback = formatting.fallback_locale()
    if has_part(kind, locale, part):
        return locale
    if has_part(kind, fallback, part):
        return fallback
    raise TemplateNotFound(f"{fallback}/{kind}/{part}")


def sms_locale(kind: str, locale: str) -> Optional[str]:
    """The locale whose SMS would be sent: the learner's if written and registered on DLT, else English if
    registered, else None."""
    locale = normalise_locale(locale)
    for candidate in dict.fromkeys((locale, formatting.fallback_locale())):
        if has_part(kind, candidate, "sms.txt") and dlt_template(kind, candidate):
            return candidate
    return None


def sms_allowed(kind: str, locale: str) -> bool:
    """Whether this kind can be sent by SMS to a learner of this locale (some registered template exists)."""
    _check_kind(kind)
    return sms_locale(kind, locale) is not None


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownKind(f"unknown notification kind {kind!r}; known: {', '.join(KINDS)}")


# --- rendering

def _context(kind: str, locale: str, context: Mapping[str, Any], unsubscribe: str) -> dict:
    spec = formatting.locale_spec(locale)
    catalogue = formatting.catalogue()
    return {**context, "kind": kind, "category": KINDS[kind], "locale": spec.code, "lang": spec.lang,
            "portal_url": catalogue["portal_url"], "sms_link": catalogue["sms_link"],
            "unsubscribe_url": unsubscribe}


def _one_line(text: str) -> str:
    return " ".join(text.split())  # also keeps CR/LF from a name out of a header or an SMS


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def render_part(kind: str, locale: str, part: str, context: Mapping[str, Any], unsubscribe: str = "") -> tuple[str, str]:
    """(text, locale used) of one part, falling back to English when the locale lacks it."""
    _check_kind(kind)
    used = _part_locale(kind, normalise_locale(locale), part)
    text = environment().get_template(f"{used}/{kind}/{part}").render(_context(kind, used, context, unsubscribe))
    return text, used


def render_sms(kind: str, locale: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The SMS text in the locale's template (or English's), registered on DLT or not: for checks and previews."""
    text, used = render_part(kind, locale, "sms.txt", context)
    return _one_line(text), used


def render(kind: str, locale: str, context: Mapping[str, Any], *, base_url: Optional[str] = None,
           unsubscribe_secrets: Optional[Sequence[str]] = None) -> Message:
    """Everything one recipient gets for `kind`. context holds the kind's variables and `learner_id` (whose
    one-click unsubscribe link is built here); see README, "Notification messages", for each kind's variables.
    base_url: the public API host the link points to (else KARMAYOGI_PUBLIC_BASE_URL, else the default);
    unsubscribe_secrets: the signing secrets (else KARMAYOGI_UNSUBSCRIBE_SECRET)."""
    _check_kind(kind)
    locale = normalise_locale(locale)
    category = KINDS[kind]
    base = base_url or settings.public_base_url()
    link = unsubscribe_url(base, context["learner_id"], category, secrets=unsubscribe_secrets)

    used: dict[str, str] = {}
    subject, used["subject.txt"] = render_part(kind, locale, "subject.txt", context, link)
    subject = _one_line(subject)
    html, used["body.html"] = render_part(kind, locale, "body.html", {**context, "subject": subject}, link)
    text, used["body.txt"] = render_part(kind, locale, "body.txt", context, link)

    sms_text = template_id = sms_count = None
    sms_in = sms_locale(kind, locale)
    if sms_in:
        sms_text, _ = render_sms(kind, sms_in, context)
        template_id = dlt_template(kind, sms_in).template_id
        sms_count = segments(sms_text)
        used["sms.txt"] = sms_in

    headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return Message(kind=kind, locale=used["body.html"], category=category, subject=subject, html=html,
                   text=_tidy_text(text), sms=sms_text, dlt_template_id=template_id, headers=headers,
                   sms_locale=sms_in, sms_segments=sms_count, part_locales=used)
