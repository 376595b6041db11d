"""The committed state held in memory answers any range with the bytes `insights export` computes.

The held document is slices of rows rendered once; the document it must equal is
``job.committed_document``, which reads the partition files and computes from the lake any week
seen at a day the warehouse does not hold it at (a range ending mid-week): so every mid-week end
below also checks the weekly rows the build kept for each earlier day of a week.
"""

import dataclasses
import datetime as dt
import gzip
import random

import orjson
import pytest

from pipeline import job
from pipeline.server import held
from pipeline.warehouse import Committed

FIRST, LAST = dt.date(2025, 1, 1), dt.date(2026, 1, 31)  # the sample warehouse's days (conftest)


@pytest.fixture(scope="module")
def state(sample_warehouse):
    return held.load(sample_warehouse)


def ranges() -> list[tuple[dt.date, dt.date]]:
    chosen = [
        (dt.date(2025, 12, 15), dt.date(2026, 1, 14)),  # across the ISO year, ends on a Wednesday
        (dt.date(2025, 6, 4), dt.date(2025, 6, 4)),  # one Wednesday: its week seen at its end
        (dt.date(2025, 6, 2), dt.date(2025, 6, 8)),  # Monday to Sunday
        (dt.date(2024, 11, 1), dt.date(2025, 1, 8)),  # from before the warehouse's first day
        (dt.date(2026, 1, 20), dt.date(2026, 3, 1)),  # past its last day: clipped to 2026-01-31, a Saturday
        (dt.date(2023, 1, 1), dt.date(2023, 2, 1)),  # nothing covered
    ]
    rng = random.Random(20261202)
    for _ in range(24):
        first = FIRST - dt.timedelta(days=10) + dt.timedelta(days=rng.randrange(420))
        chosen.append((first, first + dt.timedelta(days=rng.randrange(200))))
    return chosen


@pytest.mark.parametrize(("first", "last"), ranges(), ids=str)
def test_a_range_from_the_held_state_is_the_committed_document_byte_for_byte(sample_warehouse, state, first, last):
    expected = orjson.dumps(job.committed_document(sample_warehouse, first, last, state.committed))
    body = state.document(first, last)
    assert body.text() == expected
    assert gzip.decompress(body.gzipped()) == expected


def test_a_large_weeks_rows_are_deflated_once_and_joined_into_any_gzipped_answer(sample_warehouse, monkeypatch):
    monkeypatch.setattr(held, "DEFLATED_FROM_BYTES", 200)  # the sample's weeks are small: deflate each in advance
    state = held.load(sample_warehouse)
    assert len(state.rows["project_flag_trends"].deflated) > 50 and len(state.to_date["project_flag_trends"].deflated) > 300
    for first, last in ranges()[:8]:
        body = state.document(first, last)
        assert gzip.decompress(body.gzipped()) == body.text()
        assert body.text() == orjson.dumps(job.committed_document(sample_warehouse, first, last, state.committed))


def test_the_held_state_keeps_every_earlier_day_of_every_week(state):
    weeks = {key for grain, key in state.committed.records if grain == "week"}
    assert state.to_date_weeks == weeks and len(weeks) > 50
    rows = state.to_date["project_flag_trends"]
    assert ("2025-23", dt.date(2025, 6, 4)) in rows.spans and ("2025-23", dt.date(2025, 6, 8)) not in rows.spans


def test_a_range_whose_partitions_no_commit_holds_is_left_to_the_lake(state):
    records = {key: record for key, record in state.committed.records.items() if key != ("day", "2025-06-04")}
    missing_day = dataclasses.replace(state, committed=Committed(state.version, records))
    assert missing_day.document(dt.date(2025, 6, 1), dt.date(2025, 6, 10)) is None
    assert missing_day.document(dt.date(2025, 6, 5), dt.date(2025, 6, 10)) is not None
    no_earlier_days = dataclasses.replace(state, to_date_weeks=frozenset())
    assert no_earlier_days.document(dt.date(2025, 6, 1), dt.date(2025, 6, 4)) is None
    assert no_earlier_days.document(dt.date(2025, 6, 1), dt.date(2025, 6, 8)) is not None
