"""Calendar windows. Stored times are UTC; weeks (Monday-Sunday) and months are those of the rules' zone."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

ALL_TIME = "all"


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def week_of(moment: datetime, zone: ZoneInfo) -> str:
    """ISO week, e.g. '2024-W43' (ISO weeks start on Monday, as ours do)."""
    year, week, _ = local_date(moment, zone).isocalendar()
    return f"{year}-W{week:02d}"


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    return local_date(moment, zone).strftime("%Y-%m")


def periods_of(moment: datetime, zone: ZoneInfo) -> tuple[str, str, str]:
    """Every leaderboard period a moment belongs to, as period keys."""
    return (f"week:{week_of(moment, zone)}", f"month:{month_of(moment, zone)}", ALL_TIME)


def week_monday(week: str) -> date:
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def shift_week(week: str, weeks: int) -> str:
    year, number, _ = (week_monday(week) + timedelta(weeks=weeks)).isocalendar()
    return f"{year}-W{number:02d}"


def period_start(period: str, zone: ZoneInfo) -> Optional[datetime]:
    """When a calendar period began (local midnight of its first day), as an instant; None for all time and for
    periods that are not calendar ones (a campaign's: its own start says)."""
    kind, _, key = period.partition(":")
    if kind == "week":
        first = week_monday(key)
    elif kind == "month":
        year, month = key.split("-")
        first = date(int(year), int(month), 1)
    else:
        return None
    return datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(timezone.utc)


def whole_months_between(start: date, end: date) -> int:
    """Whole months from start to end; a month counts only once its day of the month is reached."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def utc_iso(moment: datetime) -> str:
    """How the API writes a moment: ISO 8601 in UTC with a Z."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def utc_stamp(moment: datetime) -> str:
    """Fixed width, microseconds always present: sorts as text in time order (for keys and versions)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
