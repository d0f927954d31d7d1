"""SMS segments: what one text costs.

An SMS is sent in GSM-7 when every character is in the GSM 03.38 basic set or its extension table (the
extension characters take two septets, an escape and the character); otherwise the whole text goes in UCS-2,
counted in UTF-16 code units (Hindi, Tamil and Bengali always do). One message holds 160 septets or 70 units;
a longer text is split into parts of 153 septets or 67 units (the rest of each part is the concatenation
header), and a part never splits an escape pair or a surrogate pair.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PER_PART = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class Segments:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int  # how many SMS the operator bills


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_sizes(text: str, encoding: str) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def segments(text: str) -> Segments:
    encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    sizes = _unit_sizes(text, encoding)
    units = sum(sizes)
    if units == 0:
        return Segments(encoding, 0, 0)
    if units <= SINGLE[encoding]:
        return Segments(encoding, units, 1)
    # Multi-part: fill each part greedily; a two-unit character that does not fit starts the next part.
    limit, parts, used = PER_PART[encoding], 1, 0
    for size in sizes:
        if used + size > limit:
            parts, used = parts + 1, 0
        used += size
    return Segments(encoding, units, parts)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_CONJUNCT_VIRAMAS = frozenset("\u094D\u09CD")  # Devanagari, Bengali


def clip(text, limit: int, ellipsis: str = "...") -> str:
    """At most `limit` UTF-16 code units (what UCS-2 SMS and a DLT variable count), cut at a character and
    ending with `ellipsis` when cut. English templates use "..." (GSM-7); Indic ones can use "…" (one unit)."""
    text = " ".join(str(text).split())  # no newlines or runs of spaces inside a variable
    if utf16_units(text) <= limit:
        return text
    if utf16_units(ellipsis) >= limit:
        ellipsis = ""  # no room for a mark: a plain cut
    room = limit - utf16_units(ellipsis)
    out, used = [], 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > room:
            break
        out.append(ch)
        used += size
    # Cut between syllables: a consonant whose vowel sign was cut off would misspell the word, and a
    # Devanagari or Bengali virama at the end is half a conjunct (लक्|ष्मी): drop it with its consonant.
    # (A Tamil pulli ends a syllable; it stays.)
    rest = text[len(out):]
    while out and rest and unicodedata.category(rest[0]) in ("Mn", "Mc"):
        rest = out.pop() + rest
    while len(out) > 1 and out[-1] in _CONJUNCT_VIRAMAS:
        del out[-2:]
    return "".join(out).rstrip(" ,;:-") + ellipsis
