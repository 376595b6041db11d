"""UTC days, ISO weeks and end-of-day instants: the only module that knows them.

Every instant in the project is UTC. A *day* is a UTC calendar date. A *week* is an ISO 8601 week
(Monday to Sunday) named by its ISO week-year and zero-padded week number, ``"2025-01"``. A snapshot
taken "at the end of day D" sees everything stamped before midnight that starts D + 1; in the JSON
document that moment is written ``D T23:59:59.999Z``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

UTC = dt.timezone.utc
_DAY_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEK_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


class CalendarError(ValueError):
    """A day, week or range given by a user that is not a real one, or that the command cannot use."""


def parse_day(text: str) -> dt.date:
    """The UTC day written ``YYYY-MM-DD``; anything else raises ``CalendarError``."""
    if not _DAY_PATTERN.match(text or ""):
        raise CalendarError(f"{text!r} is not a day: write it as YYYY-MM-DD, e.g. 2025-01-31")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CalendarError(f"{text!r} is not a day of the calendar") from None


def today() -> dt.date:
    """Today's UTC date."""
    return dt.datetime.now(UTC).date()


def iso_week_id(day: dt.date) -> str:
    """The ISO week a day falls in, ``"YYYY-WW"`` with the ISO week-year (2024-12-30 is ``"2025-01"``)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-{week:02d}"


def parse_week(week_id: str) -> tuple[int, int]:
    """The (ISO week-year, week number) of a week id; raises ``CalendarError`` for a week that does not exist."""
    match = _WEEK_PATTERN.match(week_id or "")
    if not match:
        raise CalendarError(f"{week_id!r} is not a week id: write it as YYYY-WW, e.g. 2025-01")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise CalendarError(f"{week_id!r} is not an ISO week: {year} has no week {week}") from None
    return year, week


def week_monday(week_id: str) -> dt.date:
    """The Monday that starts an ISO week."""
    year, week = parse_week(week_id)
    return dt.date.fromisocalendar(year, week, 1)


def week_sunday(week_id: str) -> dt.date:
    """The Sunday that ends an ISO week."""
    return week_monday(week_id) + dt.timedelta(days=6)


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of a day."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_cutoff(day: dt.date) -> dt.datetime:
    """The first instant after the end of a day: a snapshot at the end of ``day`` sees what is stamped before it."""
    return start_of_day(day + dt.timedelta(days=1))


def end_of_day_text(day: dt.date) -> str:
    """The end of a day as the document writes it: ``YYYY-MM-DDT23:59:59.999Z``."""
    return f"{day.isoformat()}T23:59:59.999Z"


def end_of_day(day: dt.date) -> dt.datetime:
    """The end of a day at millisecond precision, 23:59:59.999 UTC: the ``date`` of every trend row."""
    return dt.datetime(day.year, day.month, day.day, 23, 59, 59, 999000, tzinfo=UTC)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last``, both included; empty when ``first`` is after ``last``."""
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def weeks_overlapping(first: dt.date, last: dt.date) -> list[str]:
    """The ids of every ISO week that has a day in ``first``..``last``, in order."""
    if first > last:
        return []
    monday = first - dt.timedelta(days=first.weekday())
    ids = []
    while monday <= last:
        ids.append(iso_week_id(monday))
        monday += dt.timedelta(days=7)
    return ids


@dataclass(frozen=True, order=True)
class WeekSnapshot:
    """One weekly row's moment: the week, its Monday, and the day whose end is its snapshot.

    ``snapshot_day`` is the week's Sunday, or the ``as_of`` day when the week is not over by then.
    Weekly counts cover ``monday`` .. ``snapshot_day``; states are taken at the end of ``snapshot_day``.
    """

    week: str
    monday: dt.date
    snapshot_day: dt.date


def week_snapshot(week_id: str, as_of: dt.date) -> WeekSnapshot:
    """The snapshot of a week as seen at the end of ``as_of``; the week must have started by then."""
    monday = week_monday(week_id)
    if monday > as_of:
        raise CalendarError(f"week {week_id} starts after {as_of.isoformat()}: it has no snapshot yet")
    return WeekSnapshot(week_id, monday, min(monday + dt.timedelta(days=6), as_of))


def month_id(day: dt.date) -> str:
    """The calendar month a day falls in, ``"YYYY-MM"``."""
    return f"{day.year:04d}-{day.month:02d}"


def months_overlapping(first: dt.date, last: dt.date) -> list[str]:
    """The ids of every calendar month that has a day in ``first``..``last``, in order."""
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(month_id(day))
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


@dataclass(frozen=True, order=True)
class MonthSnapshot:
    """One month's moment: the month, its first day, and the day whose end it is seen at (its last
    day, or the ``as_of`` day when the month is not over by then)."""

    month: str
    first: dt.date
    snapshot_day: dt.date


def month_snapshot(month: str, as_of: dt.date) -> MonthSnapshot:
    """The snapshot of a month as seen at the end of ``as_of``; the month must have started by then."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month or ""):
        raise CalendarError(f"{month!r} is not a month: write it as YYYY-MM, e.g. 2025-01")
    first = dt.date(int(month[:4]), int(month[5:]), 1)
    if first > as_of:
        raise CalendarError(f"month {month} starts after {as_of.isoformat()}: it has no snapshot yet")
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return MonthSnapshot(month, first, min(last, as_of))


def default_range(to: dt.date | None) -> tuple[dt.date, dt.date]:
    """The Unleash UI's default window: ``to`` (today when absent) and one calendar month before it."""
    last = to or today()
    month = last.month - 1 or 12
    year = last.year - (1 if last.month == 1 else 0)
    if year < dt.MINYEAR:  # January of year 1: the calendar has no month before it
        return dt.date.min, last
    day = min(last.day, _days_in_month(year, month))
    return dt.date(year, month, day), last


def check_range(first: dt.date, last: dt.date) -> None:
    """Raise ``CalendarError`` when a range runs backwards."""
    if first > last:
        raise CalendarError(f"--from {first.isoformat()} is after --to {last.isoformat()}: give from <= to")


def _days_in_month(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day
