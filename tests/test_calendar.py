import datetime as dt

import pytest

from pipeline import calendar
from pipeline.calendar import CalendarError


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_week_of_2024_12_30_is_2025_01():
    assert calendar.iso_week_id(d("2024-12-30")) == "2025-01"


def test_week_of_2021_01_03_is_2020_53():
    assert calendar.iso_week_id(d("2021-01-03")) == "2020-53"


def test_week_of_2026_12_28_is_2026_53():
    assert calendar.iso_week_id(d("2026-12-28")) == "2026-53"
    assert calendar.iso_week_id(d("2027-01-03")) == "2026-53"
    assert calendar.iso_week_id(d("2027-01-04")) == "2027-01"


def test_week_ids_are_zero_padded():
    assert calendar.iso_week_id(d("2025-01-08")) == "2025-02"


def test_week_2026_53_runs_from_monday_2026_12_28_to_sunday_2027_01_03():
    assert calendar.week_monday("2026-53") == d("2026-12-28")
    assert calendar.week_sunday("2026-53") == d("2027-01-03")


def test_a_year_without_week_53_rejects_it():
    with pytest.raises(CalendarError, match="2025 has no week 53"):
        calendar.parse_week("2025-53")


def test_end_of_day_is_the_last_millisecond():
    assert calendar.end_of_day_text(d("2025-01-31")) == "2025-01-31T23:59:59.999Z"
    assert calendar.end_of_day(d("2025-01-31")).isoformat() == "2025-01-31T23:59:59.999000+00:00"


def test_a_finished_week_is_seen_at_the_end_of_its_sunday():
    snapshot = calendar.week_snapshot("2025-02", as_of=d("2025-03-01"))
    assert (snapshot.monday, snapshot.snapshot_day) == (d("2025-01-06"), d("2025-01-12"))


def test_a_partial_current_week_is_seen_at_the_end_of_the_as_of_day():
    snapshot = calendar.week_snapshot("2025-02", as_of=d("2025-01-08"))
    assert snapshot.snapshot_day == d("2025-01-08")


def test_weeks_overlapping_a_range_include_both_partial_ends():
    assert calendar.weeks_overlapping(d("2024-12-29"), d("2025-01-06")) == ["2024-52", "2025-01", "2025-02"]


def test_default_range_is_the_month_up_to_to():
    assert calendar.default_range(d("2025-03-31")) == (d("2025-02-28"), d("2025-03-31"))
    assert calendar.default_range(d("2025-01-15")) == (d("2024-12-15"), d("2025-01-15"))


@pytest.mark.parametrize("text", ["2025-1-5", "05/01/2025", "2025-02-30", "", "tomorrow"])
def test_a_day_that_is_not_yyyy_mm_dd_is_an_error(text):
    with pytest.raises(CalendarError):
        calendar.parse_day(text)


def test_from_after_to_is_an_error():
    with pytest.raises(CalendarError, match="is after"):
        calendar.check_range(d("2025-02-01"), d("2025-01-01"))


def test_months_overlapping_a_range_include_both_partial_ends():
    assert calendar.months_overlapping(dt.date(2024, 12, 31), dt.date(2025, 2, 1)) == ["2024-12", "2025-01", "2025-02"]


def test_a_month_is_seen_at_its_last_day_or_the_as_of_day():
    assert calendar.month_snapshot("2024-02", dt.date(2025, 1, 1)).snapshot_day == dt.date(2024, 2, 29)
    assert calendar.month_snapshot("2025-01", dt.date(2025, 1, 9)) == calendar.MonthSnapshot(
        "2025-01", dt.date(2025, 1, 1), dt.date(2025, 1, 9))


def test_the_default_range_of_the_calendars_first_month_starts_on_its_first_day():
    assert calendar.default_range(dt.date(1, 1, 15)) == (dt.date(1, 1, 1), dt.date(1, 1, 15))
