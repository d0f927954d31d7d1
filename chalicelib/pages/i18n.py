"""UI strings per locale (locales/<code>.toml), Indian digit grouping and IST dates for the pages.

A key missing from a locale falls back to English, so a half-translated catalogue still renders; the tests
check that Hindi has every English key. Numbers use Latin digits with Indian grouping (1,00,000) in every
locale, as the platform shows them; dates and times are shown in IST.
"""
from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

LOCALES_DIR = Path(__file__).parent / "locales"
IST = ZoneInfo("Asia/Kolkata")
DEFAULT = "en"
# The locales the pages have a catalogue for, in the order the switch lists them (each in its own script).
UI_LANGUAGES = {"en": "English", "hi": "हिन्दी", "ta": "தமிழ்", "bn": "বাংলা"}


@lru_cache(maxsize=None)
def catalogue(code: str) -> dict[str, str]:
    """Flattened `section.key -> text` for one locale."""
    data = tomllib.loads((LOCALES_DIR / f"{code}.toml").read_text(encoding="utf-8"))
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value
    walk("", data)
    return flat


def ui_language(code: Optional[str]) -> str:
    """A learner's preferred language if the pages have it, else English."""
    return code if code in UI_LANGUAGES else DEFAULT


class Translator:
    def __init__(self, code: str):
        self.code = ui_language(code)
        self._strings, self._fallback = catalogue(self.code), catalogue(DEFAULT)

    def __call__(self, key: str, **values) -> str:
        text = self._strings.get(key) or self._fallback[key]  # an unknown key is a bug: KeyError
        return text.format(**values) if values else text

    def number(self, value) -> str:
        return format_decimal(value or 0, locale="en_IN")

    def percent(self, fraction: float) -> str:
        return format_percent(fraction or 0, locale="en_IN", format="#,##,##0.#%")

    def when(self, moment) -> str:
        """A stored UTC time (datetime or the API's ISO text) as IST, e.g. 26 Nov 2026, 3:30 pm IST."""
        if not moment:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        return format_datetime(moment, "d MMM y, h:mm a", tzinfo=IST, locale=f"{self.code}_IN") + " IST"

    def day(self, iso_date: str) -> str:
        """A calendar day (the API's YYYY-MM-DD, an IST day), e.g. 3 Dec."""
        return format_date(date.fromisoformat(iso_date), "d MMM", locale=f"{self.code}_IN")
