"""SMS: segment counting (GSM-7 and UCS-2), every SMS template within two segments in every locale and
context, and every sent SMS matching its registered DLT template.

Print the segment table of every template (worst case over the test contexts):
    .venv/bin/python -m tests.test_sms_segments
"""
import re

import pytest

from chalicelib.notifications import messages
from chalicelib.notifications.messages import KINDS, dlt_template, matches_dlt, render, render_sms, sms_allowed
from chalicelib.notifications.sms import clip, is_gsm7, segments
from tests.test_notification_messages import ALL_CONTEXTS, LOCALES, TYPICAL, template_copy  # noqa: F401 (fixture)

MAX_SEGMENTS = 2
UCS2_TWO_PART_UNITS = 2 * 67  # 134 UTF-16 units


# --- counting ----------------------------------------------------------------------------------------------

def test_gsm7_single_and_multipart_limits():
    assert segments("").count == 0
    assert (segments("a" * 160).encoding, segments("a" * 160).count) == ("GSM-7", 1)
    assert segments("a" * 161).count == 2
    assert segments("a" * 306).count == 2 and segments("a" * 307).count == 3
    assert segments("£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà@$!\"#¤%&'()*+,-./:;<=>?¡\n\r").encoding == "GSM-7"


def test_gsm7_extension_characters_count_twice_and_never_split_across_parts():
    assert segments("{" * 80).units == 160 and segments("{" * 80).count == 1
    assert segments("€" * 81).count == 2
    assert all(is_gsm7(ch) and segments(ch).units == 2 for ch in "^{}\\[~]|€\f")
    # 152 + 2 + 152 = 306 septets, but the escape pair cannot straddle parts 1 and 2: three parts.
    assert segments("a" * 152 + "[" + "a" * 152).count == 3
    assert segments("a" * 151 + "[" + "a" * 153).count == 2


def test_any_character_outside_gsm7_makes_the_whole_text_ucs2():
    for text in ("नमस्ते", "வணக்கம்", "নমস্কার", "café ç", "naïve", "smart “quotes”", "…", "`", "₹100"):
        assert segments(text).encoding == "UCS-2", text
    assert segments("आ" * 70).count == 1 and segments("आ" * 71).count == 2
    assert segments("आ" * 134).count == 2 and segments("आ" * 135).count == 3


def test_ucs2_counts_utf16_units_and_never_splits_a_surrogate_pair():
    assert segments("😀" * 35).units == 70 and segments("😀" * 35).count == 1
    assert segments("अ" * 66 + "😀" + "अ" * 65).count == 2  # 133 units: the emoji opens part 2
    assert segments("अ" * 66 + "😀" + "अ" * 66).count == 3  # 134 units, but the pair cannot straddle


def test_clip_cuts_to_utf16_units_at_a_character():
    assert clip("Ananya Mehta", 20) == "Ananya Mehta"
    assert clip("Venkatanarasimharaju", 10) == "Venkata..."
    assert clip("वेंकटनरसिंह सुब्रह्मण्य", 10, "…") == "वेंकटनर…"  # not "वेंकटनरसि…": सिं is one syllable
    assert clip("लक्ष्मी", 4, "…") == "ल…"  # not "लक्…", half a conjunct
    assert clip("তথ্যের অধিকার", 5, "…") == "ত…"  # Bengali likewise: not "তথ্…"
    assert clip("தமிழ்நாடு", 6, "…") == "தமிழ்…"  # a Tamil pulli ends a syllable: it stays
    assert clip("தமிழ்நாடு", 5, "…") == "தமி…"  # the pulli did not fit: its consonant goes too
    assert clip("abc", 2) == "ab"  # no room for an ellipsis: a plain cut, still within the limit
    assert clip("ab😀😀", 5, "") == "ab😀"  # 6 units: the second emoji does not fit, and is not cut in half
    assert clip("  Line\none \t two ", 30) == "Line one two"
    assert clip("Seven, -", 8) == "Seven, -" and clip("Seven, eight", 9) == "Seven..."


# --- every SMS template -------------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(ALL_CONTEXTS))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_sms_template_fits_two_segments(kind, locale, label):
    text, used = render_sms(kind, locale, ALL_CONTEXTS[label][kind])
    assert used == locale
    counted = segments(text)
    assert 0 < counted.count <= MAX_SEGMENTS, (counted, text)
    if counted.encoding == "UCS-2":
        assert counted.units <= UCS2_TWO_PART_UNITS, (counted, text)
    if locale == "en" and label in ("typical", "no-optionals", "worst-latin"):
        assert counted.encoding == "GSM-7", text  # Latin names and titles keep English in the cheap alphabet
    if locale != "en":
        assert counted.encoding == "UCS-2"


@pytest.mark.parametrize("label", list(ALL_CONTEXTS))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", [k for k in KINDS if any(dlt_template(k, loc) for loc in LOCALES)])
def test_every_sms_matches_its_registered_dlt_template(kind, locale, label):
    message = render(kind, locale, ALL_CONTEXTS[label][kind])
    registered = dlt_template(kind, message.sms_locale)
    assert message.dlt_template_id == registered.template_id
    assert matches_dlt(message.sms, registered.text), (message.sms, registered.text)
    # Each variable stays within DLT's 30 characters, and the static text is exactly the registered one.
    values = messages.dlt_pattern(registered.text).fullmatch(message.sms).groups()
    assert len(values) == registered.text.count("{#var#}") and all(len(v) <= 30 for v in values)


def test_every_registered_template_exists_and_ids_look_like_dlt_ids():
    config = messages.dlt_config()
    assert re.fullmatch(r"\d{19}", config["entity_id"]) and re.fullmatch(r"[A-Z]{6}", config["sender_id"])
    ids = []
    for kind, by_locale in config["templates"].items():
        assert kind in KINDS
        for locale, entry in by_locale.items():
            assert messages.has_part(kind, locale, "sms.txt"), (kind, locale)
            assert re.fullmatch(r"\d{19}", entry["id"]) and "{#var#}" in entry["text"]
            ids.append(entry["id"])
    assert len(ids) == len(set(ids)) == 8 * 4


def test_dlt_matching_rejects_changed_text_and_long_variables():
    registered = dlt_template("nudge_inactive", "en").text
    ok = "Dear Ananya, you last learnt on iGOT Karmayogi 14 days ago. Continue with Noting: igotkarmayogi.gov.in"
    assert matches_dlt(ok, registered)
    assert not matches_dlt(ok.replace("Continue", "Resume"), registered)
    assert not matches_dlt(ok.replace("igotkarmayogi.gov.in", "evil.example"), registered)
    assert not matches_dlt(ok.replace("Ananya", "A" * 31), registered)
    assert matches_dlt(ok.replace("Ananya", "A" * 30), registered)


def test_a_kind_without_a_dlt_id_is_not_sent_by_sms():
    for locale in LOCALES + ("te",):
        assert not sms_allowed("admin_weekly_summary", locale)
        message = render("admin_weekly_summary", locale, TYPICAL["admin_weekly_summary"])
        assert message.sms is None and message.dlt_template_id is None and message.sms_segments is None
        assert all(sms_allowed(kind, locale) for kind in KINDS if kind != "admin_weekly_summary")


def test_an_unregistered_translation_falls_back_to_the_registered_english_sms(template_copy):  # noqa: F811
    dlt = template_copy / "dlt.toml"
    text = dlt.read_text()
    text = re.sub(r'\[templates\.nudge_inactive\.hi\]\nid = "\d+"\ntext = ".*"\n', "", text)
    text = re.sub(r'\[templates\.nudge_never_started\.(en|hi|ta|bn)\]\nid = "\d+"\ntext = ".*"\n', "", text)
    dlt.write_text(text)
    messages.dlt_config.cache_clear()
    message = render("nudge_inactive", "hi", TYPICAL["nudge_inactive"])
    assert message.locale == "hi" and message.sms_locale == "en"
    assert message.sms.startswith("Dear Ananya Mehta, you last learnt")
    assert message.dlt_template_id == dlt_template("nudge_inactive", "en").template_id
    assert not sms_allowed("nudge_never_started", "ta")
    assert render("nudge_never_started", "ta", TYPICAL["nudge_never_started"]).sms is None


# --- the table -----------------------------------------------------------------------------------------

def segment_table() -> list[tuple]:
    """(kind, locale, typical segments, worst segments, DLT id) over every test context; a cell reads
    "2 (UCS-2, 134)": segments, encoding, septets or UTF-16 units."""
    rows = []
    for kind in KINDS:
        for locale in LOCALES:
            counted = [segments(render_sms(kind, locale, ctx[kind])[0]) for ctx in ALL_CONTEXTS.values()]
            worst = max(counted, key=lambda s: (s.count, s.units if s.encoding == "UCS-2" else 0, s.units))
            typical = segments(render_sms(kind, locale, TYPICAL[kind])[0])
            registered = dlt_template(kind, locale)
            rows.append((kind, locale, _cell(typical), _cell(worst), worst.count,
                         registered.template_id if registered else "not registered"))
    return rows


def _cell(counted) -> str:
    return f"{counted.count} ({counted.encoding}, {counted.units})"


def test_the_segment_table_covers_every_template():
    rows = segment_table()
    print("\n" + format_table(rows))
    assert len(rows) == len(KINDS) * len(LOCALES) and max(r[4] for r in rows) <= MAX_SEGMENTS


def format_table(rows) -> str:
    lines = ["| kind | locale | typical | worst case | DLT template id |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {loc} | {typical} | {worst} | {i} |" for k, loc, typical, worst, _, i in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(segment_table()))
