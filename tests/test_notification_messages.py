"""Notification messages: every kind in every locale renders completely, in the right script, with Indian
number grouping, escaped HTML, English fallback, the one-click unsubscribe link and RFC 8058 headers.

The contexts below are shared with tests/test_sms_segments.py: typical ones, and worst cases (long names,
titles and figures) in Latin and in Indic scripts, with every optional branch taken and not taken.
"""
import re
import shutil
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from jinja2.exceptions import UndefinedError

import chalicelib.notifications as notifications_package
from chalicelib import settings
from chalicelib.notifications import formatting, messages
from chalicelib.notifications.messages import KINDS, render
from chalicelib.notifications.unsubscribe import read_token

LOCALES = ("en", "hi", "ta", "bn")

# --- contexts ---------------------------------------------------------------------------------------------

LONG_LATIN_NAME = "Venkatanarasimharajuvaripeta Subrahmanya Lakshminarayana Chakravarthy"
LONG_TITLE = ("Introduction to the Right to Information Act, 2005 and Its Implementation in Central "
              "Public Authorities")
LONG_CAMPAIGN = "Karmayogi Saptah: National Learning Week 2026 for the Ministry of Housing and Urban Affairs"
LONG_ORG = "Department of Administrative Reforms and Public Grievances, Ministry of Personnel"
# The same, in the scripts a learner's data may be in: every variable outside GSM-7, so even an English
# SMS goes as UCS-2 and must still fit two segments.
INDIC = {
    "hi": {"name": "वेंकटनरसिंह सुब्रह्मण्य लक्ष्मीनारायण चक्रवर्ती",
           "title": "सूचना का अधिकार अधिनियम, 2005 और केंद्रीय लोक प्राधिकरणों में इसका कार्यान्वयन",
           "campaign": "कर्मयोगी सप्ताह: आवासन और शहरी कार्य मंत्रालय का राष्ट्रीय शिक्षण सप्ताह 2026",
           "org": "प्रशासनिक सुधार और लोक शिकायत विभाग, कार्मिक मंत्रालय",
           "badge": "प्रतिबद्ध शिक्षार्थी"},
    "ta": {"name": "வேங்கடநரசிம்ம சுப்பிரமணிய லட்சுமிநாராயண சக்கரவர்த்தி",
           "title": "தகவல் அறியும் உரிமைச் சட்டம், 2005 மற்றும் மத்திய பொது அதிகார அமைப்புகளில் அதன் செயலாக்கம்",
           "campaign": "கர்மயோகி சப்தாஹ்: வீட்டுவசதி மற்றும் நகர்ப்புற விவகார அமைச்சகத்தின் தேசிய கற்றல் வாரம்",
           "org": "நிர்வாகச் சீர்திருத்தங்கள் மற்றும் பொதுமக்கள் குறைதீர்ப்புத் துறை",
           "badge": "அர்ப்பணிப்புள்ள கற்பவர்"},
    "bn": {"name": "বেঙ্কটনরসিংহ সুব্রহ্মণ্য লক্ষ্মীনারায়ণ চক্রবর্তী",
           "title": "তথ্যের অধিকার আইন, ২০০৫ এবং কেন্দ্রীয় সরকারি কর্তৃপক্ষে এর বাস্তবায়ন",
           "campaign": "কর্মযোগী সপ্তাহ: আবাসন ও নগর বিষয়ক মন্ত্রকের জাতীয় শিক্ষণ সপ্তাহ ২০২৬",
           "org": "প্রশাসনিক সংস্কার ও জনঅভিযোগ বিভাগ, কর্মী মন্ত্রক",
           "badge": "নিষ্ঠাবান শিক্ষার্থী"},
}


def contexts(name, title, campaign_name, org, badge_names, minutes=9999, big=1234567, days=9999, with_optionals=True,
             goal_met=False):
    """Every kind's variables. with_optionals=False leaves out what may be absent (course, rank, award)."""
    campaign = {"name": campaign_name, "starts_at": datetime(2026, 12, 13, 18, 30, tzinfo=timezone.utc),
                "ends_at": datetime(2026, 12, 20, 18, 29, tzinfo=timezone.utc), "goal_minutes": 240}
    course = {"title": title, "url": "https://igotkarmayogi.gov.in/app/toc/do_1141251345632", "due_on": date(2026, 12, 31)}
    course = course if with_optionals else None
    badges = [{"name": n, "description": f"{n}: completed the required learning."} for n in badge_names]
    common = {"learner_id": "learner-0042", "name": name}
    return {
        "badge_awarded": {**common, "badges": badges, "total_points": big},
        "rules_changed": {**common, "version": "2027-01", "reason": "a fifth course a month now counts",
                          "reasons": {}, "points": -big, "total_points": big},
        "campaign_starting": {**common, "campaign": campaign},
        "campaign_halfway": {**common, "campaign": campaign, "minutes_done": minutes,
                             "minutes_left": 0 if goal_met else minutes, "suggested_course": course},
        "campaign_last_day": {**common, "campaign": campaign, "minutes_done": minutes,
                              "minutes_left": 0 if goal_met else minutes},
        "campaign_results": {**common, "campaign": campaign, "goal_met": goal_met, "minutes_done": minutes,
                             "award": "Gold: top learner of the ministry" if with_optionals else None,
                             "rank": big if with_optionals else None, "participants": big * 2},
        "nudge_inactive": {**common, "days_inactive": days, "course": course},
        "nudge_never_started": {**common, "org_name": org, "course": course},
        "admin_weekly_summary": {**common, "org_name": org, "week_start": date(2026, 11, 23),
                                 "week_end": date(2026, 11, 29), "employees": big, "active_learners": big,
                                 "minutes_total": big * 10, "completions": big,
                                 "never_started": big},
    }


TYPICAL = contexts("Ananya Mehta", "Noting and Drafting in Government", "Karmayogi Saptah 2026",
                   "Department of Posts", ["First Step"], minutes=135, big=100000, days=14)
TYPICAL_NO_OPTIONALS = contexts("Ananya Mehta", "Noting and Drafting", "Karmayogi Saptah 2026",
                                "Department of Posts", ["First Step", "Committed Learner"], minutes=245, big=100000,
                                days=8, with_optionals=False, goal_met=True)
WORST_LATIN = contexts(LONG_LATIN_NAME, LONG_TITLE, LONG_CAMPAIGN, LONG_ORG,
                       ["Committed Learner", "Functional Expert", "Hundred Hours"])
WORST_INDIC = {code: contexts(v["name"], v["title"], v["campaign"], v["org"], [v["badge"]] * 3)
               for code, v in INDIC.items()}
# Every context a template must cope with, by label.
ALL_CONTEXTS = {"typical": TYPICAL, "no-optionals": TYPICAL_NO_OPTIONALS, "worst-latin": WORST_LATIN,
                **{f"worst-{code}": ctx for code, ctx in WORST_INDIC.items()}}

SCRIPT = {"hi": r"[\u0900-\u097F]", "ta": r"[\u0B80-\u0BFF]", "bn": r"[\u0980-\u09FF]"}
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


@pytest.fixture
def template_copy(tmp_path, monkeypatch):
    """A private copy of notifications/ that a test may edit; the caches forget the real one meanwhile."""
    copy = tmp_path / "notifications"
    shutil.copytree(notifications_package.templates_root(), copy)
    monkeypatch.setenv("KARMAYOGI_NOTIFICATIONS_DIR", str(copy))
    _forget_caches()
    yield copy
    monkeypatch.delenv("KARMAYOGI_NOTIFICATIONS_DIR")
    _forget_caches()


def _forget_caches():
    for cached in (notifications_package.templates_root, formatting.catalogue, messages.environment,
                   messages.dlt_config):
        cached.cache_clear()


# --- every kind, every locale ---------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(ALL_CONTEXTS))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_every_part_in_every_locale(kind, locale, label):
    message = render(kind, locale, ALL_CONTEXTS[label][kind])
    assert message.kind == kind and message.locale == locale and message.category == KINDS[kind]
    assert set(message.part_locales.values()) == {locale}  # nothing fell back: every locale has every part
    for part in (message.subject, message.html, message.text) + ((message.sms,) if message.sms else ()):
        assert part.strip() and not LEFTOVER.search(part), part
    assert "\n" not in message.subject and len(message.subject) < 250
    # The email is one self-contained document: inline styles, no scripts, images or remote stylesheets.
    assert message.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{formatting.locale_spec(locale).lang}">' in message.html
    assert not re.search(r"<script|<img|<link|<iframe|src=|@import|url\(", message.html, re.I)
    # The unsubscribe link is in both bodies and the headers, and names this learner and category.
    link = message.headers["List-Unsubscribe"][1:-1]
    assert message.headers["List-Unsubscribe"] == f"<{link}>"
    assert link.startswith(f"{settings.public_base_url()}/v1/unsubscribe?token=")  # the stage's host (https there)
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'href="{link}"' in message.html and link in message.text
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert read_token(token) == ("learner-0042", KINDS[kind])
    if locale != "en":
        for part in (message.subject, message.html, message.text):
            assert re.search(SCRIPT[locale], part)


def test_each_locale_has_every_part_of_every_kind_and_nothing_else():
    root = notifications_package.templates_root()
    for locale in LOCALES:
        written = {p.relative_to(root / locale).as_posix() for p in (root / locale).rglob("*") if p.is_file()}
        expected = {f"{kind}/{part}" for kind in KINDS for part in messages.PARTS} | {"_footer.html", "_footer.txt"}
        assert written == expected, locale
    assert set(formatting.known_locales()) == set(LOCALES)


# --- fallback --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_a_language_with_no_templates_gets_english(kind):
    telugu = render(kind, "te", TYPICAL[kind])
    english = render(kind, "en", TYPICAL[kind])
    assert telugu.locale == "en" and set(telugu.part_locales.values()) == {"en"}
    assert (telugu.subject, telugu.sms, telugu.dlt_template_id) == (english.subject, english.sms, english.dlt_template_id)
    assert 'lang="en-IN"' in telugu.html


def test_locale_tags_are_normalised():
    for tag in ("hi-IN", "hi_IN", "HI", " hi "):
        assert render("nudge_inactive", tag, TYPICAL["nudge_inactive"]).locale == "hi"
    assert render("nudge_inactive", "", TYPICAL["nudge_inactive"]).locale == "en"
    assert render("nudge_inactive", None, TYPICAL["nudge_inactive"]).locale == "en"


def test_fallback_is_per_part(template_copy):
    (template_copy / "hi" / "nudge_inactive" / "body.txt").unlink()
    (template_copy / "ta" / "campaign_results" / "sms.txt").unlink()
    message = render("nudge_inactive", "hi", TYPICAL["nudge_inactive"])
    assert message.part_locales == {"subject.txt": "hi", "body.html": "hi", "body.txt": "en", "sms.txt": "hi"}
    assert re.search(SCRIPT["hi"], message.subject) and message.text.startswith("Dear Ananya Mehta,")
    results = render("campaign_results", "ta", TYPICAL["campaign_results"])
    assert results.part_locales["sms.txt"] == "en" and results.sms.startswith("Karmayogi Saptah 2026 has ended.")
    assert results.dlt_template_id == messages.dlt_template("campaign_results", "en").template_id
    assert re.search(SCRIPT["ta"], results.subject)


def test_a_missing_footer_falls_back_to_the_english_footer(template_copy):
    (template_copy / "bn" / "_footer.html").unlink()
    message = render("badge_awarded", "bn", TYPICAL["badge_awarded"])
    assert "unsubscribe with one click" in message.html and re.search(SCRIPT["bn"], message.html)


# --- content in Hindi, Tamil and Bengali ----------------------------------------------------------------

def test_hindi_reads_in_devanagari_with_indian_grouping_and_hindi_dates():
    message = render("badge_awarded", "hi", TYPICAL["badge_awarded"])
    assert message.subject == 'iGOT कर्मयोगी पर आपको "First Step" बैज मिला है'
    assert "अब आपके कर्मा पॉइंट <strong>1,00,000</strong> हैं।" in message.html
    assert "अब आपके कर्मा पॉइंट 1,00,000 हैं।" in message.text
    assert message.text.startswith("प्रिय Ananya Mehta,")
    assert "पुरस्कार सूचनाएँ" in message.text  # the footer names the category being unsubscribed from
    nudge = render("nudge_inactive", "hi", TYPICAL["nudge_inactive"])
    assert "31 दिसंबर 2026" in nudge.text and "14 दिन हो गए हैं" in nudge.text
    halfway = render("campaign_halfway", "hi", TYPICAL["campaign_halfway"])
    assert "2 घंटे 15 मिनट" in halfway.text  # 135 minutes
    assert halfway.sms.startswith("Karmayogi Saptah 2026 आधा पूरा: आपने 2.2 घंटे सीखा")


def test_tamil_reads_in_tamil_script_with_indian_grouping():
    message = render("admin_weekly_summary", "ta", TYPICAL["admin_weekly_summary"])
    assert "மொத்தப் பணியாளர்கள்: 1,00,000" in message.text
    assert "மொத்தக் கற்றல் நேரம்: 16,666 மணிநேரம் 40 நிமிடங்கள்" in message.text  # 10,00,000 minutes
    assert "23 நவம்பர், 2026 முதல் 29 நவம்பர், 2026 வரையிலான வாரத்தில்" in message.text
    assert message.html.count("1,00,000") >= 4
    badge = render("badge_awarded", "ta", TYPICAL["badge_awarded"])
    assert badge.text.startswith("அன்புள்ள Ananya Mehta,") and "1,00,000" in badge.text
    assert re.search(SCRIPT["ta"], badge.sms) and badge.sms_segments.encoding == "UCS-2"


def test_the_weekly_summary_computes_the_participation_share():
    context = {**TYPICAL["admin_weekly_summary"], "employees": 125000, "active_learners": 45000}
    assert "Learned this week: 45,000 (36%)" in render("admin_weekly_summary", "en", context).text
    assert "इस सप्ताह सीखने वाले: 45,000 (36%)" in render("admin_weekly_summary", "hi", context).text
    empty = render("admin_weekly_summary", "en", {**context, "employees": 0, "active_learners": 0})
    assert "Learned this week: 0 (0%)" in empty.text


def test_bengali_uses_bengali_script_and_latin_digits():
    message = render("campaign_results", "bn", TYPICAL["campaign_results"])
    assert "আপনার স্থান" in message.text and "2,00,000 জনের মধ্যে 1,00,000" in message.text
    assert not re.search(r"[\u09E6-\u09EF]", message.text)  # no Bengali digits: Latin everywhere (see locales.toml)


def test_campaign_times_are_shown_in_ist():
    message = render("campaign_starting", "en", TYPICAL["campaign_starting"])
    # 13 Dec 18:30 UTC is midnight 14 Dec in India.
    assert message.subject == "Karmayogi Saptah 2026 begins tomorrow, 14 December 2026"
    assert "14 Dec 2026, 12:00 am" in message.text and "20 Dec 2026, 11:59 pm" in message.text


def test_optional_parts_are_left_out_cleanly():
    results = render("campaign_results", "en", TYPICAL_NO_OPTIONALS["campaign_results"])
    assert "Your rank" not in results.text and "Your award" not in results.text
    assert "Congratulations! You met the campaign goal of 4 hours." in results.text
    assert results.subject.endswith("(goal met)")
    nudge = render("nudge_inactive", "en", TYPICAL_NO_OPTIONALS["nudge_inactive"])
    assert "Find a course: https://igotkarmayogi.gov.in" in nudge.text
    assert nudge.sms.endswith("Continue with a course of your choice: igotkarmayogi.gov.in")
    digest = render("badge_awarded", "en", TYPICAL_NO_OPTIONALS["badge_awarded"])
    assert digest.subject == "You have earned 2 new badges on iGOT Karmayogi"
    assert digest.text.count("\n- ") == 2 and digest.html.count("<li ") == 2


def test_the_footer_says_why_the_recipient_gets_the_email():
    summary = render("admin_weekly_summary", "en", TYPICAL["admin_weekly_summary"])
    assert "as an administrator of your organisation on iGOT Karmayogi" in summary.text
    assert "To stop receiving weekly summaries by email" in summary.text
    nudge = render("nudge_inactive", "ta", TYPICAL["nudge_inactive"])
    assert "நீங்கள் கற்பவர் என்பதால்" in nudge.text and "கற்றல் நினைவூட்டல்களை" in nudge.html


def test_values_as_they_come_back_from_storage_render_the_same():
    """The outbox stores a context as JSON or DynamoDB items: dates as ISO strings, numbers as Decimal."""
    from decimal import Decimal
    typical = TYPICAL["campaign_halfway"]
    stored = {**typical, "minutes_done": Decimal(135), "minutes_left": Decimal(135),
              "campaign": {**typical["campaign"], "starts_at": "2026-12-13T18:30:00Z",
                           "ends_at": "2026-12-20T18:29:00+00:00", "goal_minutes": Decimal(240)}}
    nudge = TYPICAL["nudge_inactive"]
    stored_nudge = {**nudge, "days_inactive": Decimal(14), "course": {**nudge["course"], "due_on": "2026-12-31"}}
    without_token = re.compile(r"token=[\w.%-]+")
    for locale in LOCALES:
        for kind, fresh, again in (("campaign_halfway", typical, stored), ("nudge_inactive", nudge, stored_nudge)):
            a, b = render(kind, locale, fresh), render(kind, locale, again)
            assert (a.subject, a.sms) == (b.subject, b.sms)
            assert without_token.sub("", a.text) == without_token.sub("", b.text)
            assert without_token.sub("", a.html) == without_token.sub("", b.html)


# --- safety ----------------------------------------------------------------------------------------------

def test_html_escapes_a_malicious_name_and_course_title_and_text_keeps_them_plain():
    evil = '<script>alert("x")</script><a href="https://evil.example">'
    context = {**TYPICAL["nudge_inactive"], "name": evil,
               "course": {**TYPICAL["nudge_inactive"]["course"], "title": "<img src=x onerror=alert(1)>"}}
    for locale in LOCALES:
        message = render("nudge_inactive", locale, context)
        assert "<script" not in message.html and "<img" not in message.html and "evil.example\">" not in message.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in message.html
        assert "&lt;img src=x onerror=alert(1)&gt;" in message.html
        assert evil in message.text  # plain text is not HTML: shown as typed


def test_a_line_break_in_a_name_cannot_add_an_email_header():
    message = render("nudge_inactive", "en", {**TYPICAL["nudge_inactive"], "name": "Ravi\r\nBcc: all@example.com"})
    assert "\r" not in message.subject and "\n" not in message.subject
    assert "\n" not in message.sms and "\r" not in message.sms


def test_a_missing_variable_fails_loudly():
    context = dict(TYPICAL["nudge_inactive"])
    del context["days_inactive"]
    with pytest.raises(UndefinedError):
        render("nudge_inactive", "hi", context)
    with pytest.raises(UndefinedError):  # an optional value must be given as None, not left out
        render("campaign_halfway", "en", {k: v for k, v in TYPICAL["campaign_halfway"].items() if k != "suggested_course"})
    with pytest.raises(KeyError):
        render("badge_awarded", "en", {k: v for k, v in TYPICAL["badge_awarded"].items() if k != "learner_id"})


def test_an_unknown_kind_is_refused():
    with pytest.raises(messages.UnknownKind):
        render("birthday_greeting", "en", TYPICAL["nudge_inactive"])
    with pytest.raises(messages.UnknownKind):
        messages.sms_allowed("birthday_greeting", "en")


def test_the_unsubscribe_base_url_is_configurable(monkeypatch):
    message = render("badge_awarded", "en", TYPICAL["badge_awarded"], base_url="http://127.0.0.1:8123/")
    assert message.headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8123/v1/unsubscribe?token=")
    monkeypatch.setenv("KARMAYOGI_PUBLIC_BASE_URL", "https://engage.example.gov.in")
    message = render("badge_awarded", "en", TYPICAL["badge_awarded"])
    assert message.headers["List-Unsubscribe"].startswith("<https://engage.example.gov.in/v1/unsubscribe?token=")


# --- formatting ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES + ("te",))
def test_numbers_use_indian_grouping_and_latin_digits(locale):
    assert formatting.format_number(100000, locale) == "1,00,000"
    assert formatting.format_number(12345678, locale) == "1,23,45,678"
    assert formatting.format_number(999, locale) == "999"
    assert formatting.format_number(2.25, locale, decimals=1) in ("2.2", "2.3")
    assert formatting.format_percent(42.56, locale) == "42.6%"


def test_durations_in_hours_and_minutes_per_locale():
    cases = {"en": ("4 hours 5 minutes", "1 hour", "1 minute", "0 minutes", "2 hours"),
             "hi": ("4 घंटे 5 मिनट", "1 घंटा", "1 मिनट", "0 मिनट", "2 घंटे"),
             "ta": ("4 மணிநேரம் 5 நிமிடங்கள்", "1 மணிநேரம்", "1 நிமிடம்", "0 நிமிடங்கள்", "2 மணிநேரம்"),
             "bn": ("4 ঘণ্টা 5 মিনিট", "1 ঘণ্টা", "1 মিনিট", "0 মিনিট", "2 ঘণ্টা")}
    for locale, expected in cases.items():
        assert tuple(formatting.format_duration(m, locale) for m in (245, 60, 1, 0, 120)) == expected
    assert formatting.format_duration(6000000, "en") == "1,00,000 hours"
    assert formatting.format_duration(-5, "en") == "0 minutes"
    assert formatting.format_hours(150, "en") == "2.5 hours" and formatting.format_hours(60, "hi") == "1 घंटा"


def test_dates_are_in_ist_per_locale():
    late_evening_utc = datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc)  # 1 Dec, 01:30 in India
    assert formatting.format_date(late_evening_utc, "en") == "1 December 2026"
    assert formatting.format_date(late_evening_utc, "hi") == "1 दिसंबर 2026"
    assert formatting.format_date(late_evening_utc, "ta") == "1 டிசம்பர், 2026"
    assert formatting.format_date(late_evening_utc, "bn") == "1 ডিসেম্বর, 2026"
    assert formatting.format_date("2026-11-30T20:00:00Z", "en", "short") == "1 Dec"
    assert formatting.format_datetime(late_evening_utc, "en") == "1 Dec 2026, 1:30 am"
    assert formatting.format_datetime(datetime(2026, 11, 30, 20, 0), "en") == "1 Dec 2026, 1:30 am"  # naive = UTC
    assert formatting.format_date(date(2026, 1, 5), "hi", "short") == "5 जन॰"


# --- where the templates are found ------------------------------------------------------------------------

def test_templates_are_found_in_the_packaged_copy_when_the_repository_folder_is_absent(tmp_path, monkeypatch):
    packaged = tmp_path / "var" / "task" / "chalicelib" / "_notifications"
    shutil.copytree(notifications_package.templates_root(), packaged)
    monkeypatch.setattr(notifications_package, "_CANDIDATES", (tmp_path / "var" / "task" / "notifications", packaged))
    _forget_caches()
    try:
        assert notifications_package.templates_root() == packaged
        assert render("nudge_inactive", "ta", TYPICAL["nudge_inactive"]).locale == "ta"
    finally:
        monkeypatch.undo()
        _forget_caches()


def test_missing_templates_say_how_packaging_must_copy_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KARMAYOGI_NOTIFICATIONS_DIR", str(tmp_path / "nowhere"))
    _forget_caches()
    try:
        with pytest.raises(RuntimeError, match="chalicelib/_notifications"):
            notifications_package.templates_root()
    finally:
        monkeypatch.delenv("KARMAYOGI_NOTIFICATIONS_DIR")
        _forget_caches()
