"""Numbers, dates and durations as a reader of each locale expects them.

Numbers use Indian grouping (1,00,000) and Latin digits in every locale (the choice is explained in
notifications/locales.toml). Dates and times are shown in IST whatever the stored UTC value.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Union
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers

from chalicelib.notifications import templates_root

IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class LocaleSpec:
    code: str  # our code: en, hi, ta, bn (the folder name)
    babel: str  # CLDR locale for Babel: en_IN, hi_IN...
    lang: str  # BCP 47 tag for HTML: hi-IN
    hour: tuple[str, str]  # singular, plural
    minute: tuple[str, str]


@lru_cache(maxsize=None)
def catalogue() -> dict:
    with open(templates_root() / "locales.toml", "rb") as f:
        return tomllib.load(f)


def fallback_locale() -> str:
    return catalogue()["fallback"]


def known_locales() -> tuple[str, ...]:
    return tuple(catalogue()["locales"])


def locale_spec(code: str) -> LocaleSpec:
    """The spec for a locale we write in; an unknown code gets the fallback locale's."""
    locales = catalogue()["locales"]
    code = code if code in locales else fallback_locale()
    entry = locales[code]
    return LocaleSpec(code=code, babel=entry["babel"], lang=entry["lang"],
                      hour=tuple(entry["hour"]), minute=tuple(entry["minute"]))


def format_number(value: Union[int, float], locale: str, decimals: int = 0) -> str:
    """12,34,567 (Indian grouping, Latin digits); at most `decimals` decimal places."""
    pattern = "#,##,##0" + ("." + "#" * decimals if decimals else "")
    return babel_numbers.format_decimal(value, format=pattern, locale=locale_spec(locale).babel,
                                        numbering_system="latn")


def format_percent(value: Union[int, float], locale: str) -> str:
    """A percentage given as 0-100, one decimal at most: 42.5%."""
    return format_number(value, locale, decimals=1) + "%"


def _in_ist(value: Union[date, datetime]) -> Union[date, datetime]:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)  # stored times are UTC
        return value.astimezone(IST)
    return value


def format_date(value: Union[date, datetime, str], locale: str, style: str = "long") -> str:
    """A calendar date in IST: 27 November 2026 / 27 नवंबर 2026. style: long, medium or short (27 Nov)."""
    day = _in_ist(_parse(value))
    day = day.date() if isinstance(day, datetime) else day
    pattern = {"short": "d MMM"}.get(style, style)
    return babel_dates.format_date(day, format=pattern, locale=locale_spec(locale).babel)


def format_datetime(value: Union[datetime, str], locale: str) -> str:
    """A moment in IST with the time: 27 Nov 2026, 9:00 am."""
    moment = _parse(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return babel_dates.format_datetime(moment, format="d MMM y, h:mm a", tzinfo=IST, locale=locale_spec(locale).babel)


def format_duration(minutes: Union[int, float], locale: str) -> str:
    """Whole minutes as hours and minutes: 4 hours 5 minutes, 1 hour, 0 minutes, 4 घंटे 5 मिनट."""
    spec = locale_spec(locale)
    total = max(0, int(round(minutes)))
    hours, rest = divmod(total, 60)
    parts = []
    if hours:
        parts.append(f"{format_number(hours, spec.code)} {spec.hour[0 if hours == 1 else 1]}")
    if rest or not hours:
        parts.append(f"{rest} {spec.minute[0 if rest == 1 else 1]}")
    return " ".join(parts)


def format_hours(minutes: Union[int, float], locale: str) -> str:
    """Minutes as hours with one decimal at most, for short texts (SMS): 4 hours, 2.5 hours, 1 hour, 2.5 घंटे."""
    spec = locale_spec(locale)
    hours = round(max(0, minutes) / 60, 1)
    return f"{format_number(hours, spec.code, decimals=1)} {spec.hour[0 if hours == 1 else 1]}"


def _parse(value):
    if isinstance(value, str):
        text = value.replace("Z", "+00:00")
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    return value
