"""Calendar windows (chalicelib/rules/periods.py): weeks Monday 00:00 to Sunday 23:59:59 IST, ISO week keys,
IST calendar months, whole months between two dates. Expected values are calendar facts worked out by hand."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib.rules.periods import (ALL_TIME, local_date, month_of, periods_of, shift_week, week_monday,
                                      week_of, whole_months_between)

KOLKATA = ZoneInfo("Asia/Kolkata")
UTC = timezone.utc
IST = timezone(timedelta(hours=5, minutes=30))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


# --- weeks ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("moment, week", [
    # Sunday 27 Oct 2024 23:59:59 IST is the last second of 2024-W43; Monday 28 Oct 00:00 IST starts W44.
    (ist(2024, 10, 27, 23, 59, 59), "2024-W43"),
    (ist(2024, 10, 28, 0, 0, 0), "2024-W44"),
    # The same two moments written in UTC: both fall on Sunday 27 Oct in UTC, but IST decides.
    (utc(2024, 10, 27, 18, 29, 59), "2024-W43"),
    (utc(2024, 10, 27, 18, 30, 0), "2024-W44"),
    # Monday 06:00 UTC is still Monday in IST (11:30).
    (utc(2024, 10, 28, 6, 0), "2024-W44"),
    # ISO year boundaries: Monday 30 Dec 2024 starts 2025-W01; Sunday 29 Dec 2024 ends 2024-W52.
    (ist(2024, 12, 29, 23, 59, 59), "2024-W52"),
    (ist(2024, 12, 30, 0, 0), "2025-W01"),
    (utc(2024, 12, 29, 18, 30), "2025-W01"),  # = Monday 30 Dec 00:00 IST
    (ist(2025, 1, 1, 10, 0), "2025-W01"),
    # 2020 has 53 ISO weeks: 28 Dec 2020 to Sunday 3 Jan 2021 is 2020-W53.
    (ist(2020, 12, 31, 12, 0), "2020-W53"),
    (ist(2021, 1, 3, 23, 59), "2020-W53"),
    (ist(2021, 1, 4, 0, 0), "2021-W01"),
    # 2026 has 53 ISO weeks too; Monday 29 Dec 2025 is already 2026-W01.
    (ist(2025, 12, 28, 23, 0), "2025-W52"),
    (ist(2025, 12, 29, 0, 0), "2026-W01"),
    (ist(2027, 1, 3, 12, 0), "2026-W53"),
    # Single-digit weeks are zero-padded, so keys sort as strings within a year.
    (ist(2024, 1, 1, 0, 0), "2024-W01"),
    (ist(2024, 3, 4, 9, 0), "2024-W10"),
])
def test_week_of_uses_monday_to_sunday_weeks_in_ist(moment, week):
    assert week_of(moment, KOLKATA) == week


@pytest.mark.parametrize("week, monday", [
    ("2024-W44", date(2024, 10, 28)),
    ("2025-W01", date(2024, 12, 30)),
    ("2020-W53", date(2020, 12, 28)),
    ("2026-W01", date(2025, 12, 29)),
])
def test_week_monday(week, monday):
    assert week_monday(week) == monday
    assert monday.weekday() == 0


@pytest.mark.parametrize("week, weeks, expected", [
    ("2024-W44", 1, "2024-W45"),
    ("2024-W44", -1, "2024-W43"),
    ("2024-W44", 0, "2024-W44"),
    ("2024-W52", 1, "2025-W01"),
    ("2025-W01", -1, "2024-W52"),
    ("2020-W52", 1, "2020-W53"),
    ("2020-W53", 1, "2021-W01"),
    ("2021-W01", -1, "2020-W53"),
    ("2026-W53", 1, "2027-W01"),
    ("2027-W01", -1, "2026-W53"),
    ("2024-W01", -1, "2023-W52"),
    ("2024-W09", 1, "2024-W10"),
    ("2024-W40", 26, "2025-W14"),  # 26 weeks after Monday 30 Sep 2024 is Monday 31 Mar 2025
    ("2025-W14", -26, "2024-W40"),
])
def test_shift_week_crosses_iso_years(weeks, week, expected):
    assert shift_week(week, weeks) == expected


# --- months and dates -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("moment, month", [
    (ist(2024, 10, 31, 23, 30), "2024-10"),
    (utc(2024, 10, 31, 18, 0), "2024-10"),   # 23:30 IST
    (utc(2024, 10, 31, 18, 30), "2024-11"),  # 00:00 IST on 1 Nov
    (utc(2024, 10, 31, 18, 45), "2024-11"),  # 00:15 IST on 1 Nov
    (ist(2024, 11, 1, 0, 0), "2024-11"),
    (utc(2024, 12, 31, 18, 29, 59), "2024-12"),
    (utc(2024, 12, 31, 18, 30), "2025-01"),  # New Year in India while it is still 2024 in UTC
    (utc(2024, 2, 29, 20, 0), "2024-03"),    # leap day evening UTC is 1 Mar IST
    # A moment written with some other offset is converted, not taken at face value.
    (datetime(2024, 10, 31, 14, 0, tzinfo=timezone(timedelta(hours=-5))), "2024-11"),  # 19:00Z = 00:30 IST
])
def test_month_of_is_the_ist_calendar_month(moment, month):
    assert month_of(moment, KOLKATA) == month


def test_local_date_is_the_date_in_india():
    assert local_date(utc(2024, 10, 31, 18, 29), KOLKATA) == date(2024, 10, 31)
    assert local_date(utc(2024, 10, 31, 18, 30), KOLKATA) == date(2024, 11, 1)
    assert local_date(ist(2024, 11, 1, 0, 0), KOLKATA) == date(2024, 11, 1)


def test_periods_of_names_the_week_the_month_and_all_time():
    # Monday 30 Dec 2024 00:10 IST: week 2025-W01 but month 2024-12.
    assert periods_of(utc(2024, 12, 29, 18, 40), KOLKATA) == ("week:2025-W01", "month:2024-12", ALL_TIME)
    assert periods_of(ist(2024, 10, 27, 23, 59), KOLKATA) == ("week:2024-W43", "month:2024-10", "all")


def test_another_zone_moves_the_boundaries():
    # Rules can name another zone: the same instant is then in another week and month.
    moment = utc(2024, 10, 31, 18, 45)
    assert month_of(moment, ZoneInfo("UTC")) == "2024-10"
    assert month_of(moment, KOLKATA) == "2024-11"
    assert week_of(utc(2024, 10, 27, 18, 45), ZoneInfo("UTC")) == "2024-W43"
    assert week_of(utc(2024, 10, 27, 18, 45), KOLKATA) == "2024-W44"


# --- whole months between (the ACBP late penalty) -------------------------------------------------------------

@pytest.mark.parametrize("start, end, months", [
    # docs/brief.md's own examples.
    (date(2024, 10, 1), date(2024, 10, 20), 0),
    (date(2024, 1, 15), date(2024, 10, 21), 9),
    # A month counts on the day its day of the month is reached, not before.
    (date(2024, 1, 15), date(2024, 3, 14), 1),
    (date(2024, 1, 15), date(2024, 3, 15), 2),
    (date(2024, 1, 15), date(2024, 2, 14), 0),
    (date(2024, 1, 15), date(2024, 2, 15), 1),
    (date(2024, 10, 1), date(2024, 10, 1), 0),
    (date(2024, 10, 1), date(2024, 11, 1), 1),
    (date(2024, 10, 1), date(2024, 10, 31), 0),
    # Across a year end.
    (date(2023, 12, 15), date(2024, 1, 14), 0),
    (date(2023, 12, 15), date(2024, 1, 15), 1),
    (date(2023, 11, 30), date(2025, 11, 30), 24),
    (date(2023, 11, 30), date(2025, 11, 29), 23),
    # End-of-month days: the 31st is never reached in February, April, June...; literally read, the
    # month is only whole once the calendar passes the day (1 Mar, 1 May). See the report on this choice.
    (date(2025, 1, 31), date(2025, 2, 28), 0),
    (date(2024, 1, 31), date(2024, 2, 29), 0),
    (date(2025, 1, 31), date(2025, 3, 1), 1),
    (date(2025, 1, 31), date(2025, 3, 30), 1),
    (date(2025, 1, 31), date(2025, 3, 31), 2),
    (date(2025, 3, 31), date(2025, 4, 30), 0),
    (date(2025, 3, 31), date(2025, 5, 1), 1),
    (date(2024, 2, 29), date(2025, 2, 28), 11),
    (date(2024, 2, 29), date(2025, 3, 1), 12),
    (date(2025, 2, 28), date(2025, 3, 28), 1),
    (date(2025, 2, 28), date(2025, 3, 27), 0),
    # Done before the end date: never negative.
    (date(2024, 10, 20), date(2024, 10, 1), 0),
    (date(2025, 1, 1), date(2024, 3, 1), 0),
])
def test_whole_months_between(start, end, months):
    assert whole_months_between(start, end) == months
