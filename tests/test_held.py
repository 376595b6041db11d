"""The committed state held in memory answers a range with the bytes `insights export` computes.

The held document is slices of rows rendered once; the document it must equal is
``job.committed_document``, which reads the partition files. Any range is a slice (SPEC §3): a
past week is shown whole, as of its Sunday, and only the week not over by the warehouse's last
day as of that day.
"""

import dataclasses
import datetime as dt
import gzip
import random
import zlib

import orjson
import pytest

from pipeline import job
from pipeline.server import crc, held
from pipeline.trends import TRENDS
from pipeline.warehouse import Committed

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2026, 1, 31)  # the sample warehouse's days (conftest)


@pytest.fixture(scope="module")
def state(sample_warehouse):
    return held.load_held(sample_warehouse)


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
    for n in range(24):
        first = FIRST - dt.timedelta(days=10) + dt.timedelta(days=rng.randrange(780))
        last = first + dt.timedelta(days=rng.randrange(200))
        chosen.append((first, last + dt.timedelta(days=(6 - last.weekday()) * (n % 2))))  # every other one to a Sunday
    return chosen


def ends_mid_week_before_the_last_day(first: dt.date, last: dt.date) -> bool:
    end = min(last, LAST)
    return first <= end and end >= FIRST and end.weekday() != 6 and end != LAST


@pytest.mark.parametrize(("first", "last"), ranges(), ids=str)
def test_a_range_from_the_held_state_is_the_committed_document_byte_for_byte(sample_warehouse, state, first, last):
    body = state.document(first, last)
    expected = orjson.dumps(job.committed_document(sample_warehouse, first, last, state.committed))
    assert body.text() == expected
    assert gzip.decompress(body.gzipped()) == expected


def test_the_ranges_include_ends_mid_week_before_the_last_day():
    mid_week = [r for r in ranges() if ends_mid_week_before_the_last_day(*r)]
    assert 5 < len(mid_week) < len(ranges()) - 5


WEEKLY = [t.array for t in TRENDS.values() if t.grain == "week"]


def test_a_range_ending_mid_week_in_a_past_week_holds_that_weeks_sunday_rows(sample_warehouse, state):
    wednesday, sunday = dt.date(2025, 6, 4), dt.date(2025, 6, 8)  # week 2025-23
    mid_week = orjson.loads(state.document(dt.date(2025, 5, 1), wednesday).text())
    whole = orjson.loads(state.document(dt.date(2025, 5, 1), sunday).text())
    exported = job.export(sample_warehouse, dt.date(2025, 5, 1), wednesday)
    assert orjson.dumps(exported) == orjson.dumps(mid_week)  # export and the server alike
    for array in WEEKLY:
        rows = [r for r in mid_week[array] if r["week"] == "2025-23"]
        assert rows == [r for r in whole[array] if r["week"] == "2025-23"], array
        assert {r["date"] for r in rows} <= {"2025-06-08T23:59:59.999Z"}
    assert [r["date"] for r in mid_week["projectFlagTrends"] if r["week"] == "2025-23"][:1] == ["2025-06-08T23:59:59.999Z"]
    assert mid_week["flagTrends"][-1]["date"] == "2025-06-04T23:59:59.999Z"  # days stop at the range's end


def test_the_week_not_over_by_the_warehouses_last_day_is_shown_as_of_that_day(state):
    # the sample warehouse ends on Saturday 2026-01-31, in week 2026-05
    doc = orjson.loads(state.document(dt.date(2026, 1, 20), dt.date(2026, 2, 28)).text())
    dates = {r["date"] for r in doc["projectFlagTrends"] if r["week"] == "2026-05"}
    assert dates == {"2026-01-31T23:59:59.999Z"}


def test_a_large_weeks_rows_are_deflated_once_and_joined_into_any_gzipped_answer(sample_warehouse, monkeypatch):
    monkeypatch.setattr(held, "DEFLATED_FROM_BYTES", 200)  # the sample's weeks are small: deflate each in advance
    state = held.load_held(sample_warehouse)
    assert len(state.rows["project_flag_trends"].deflated) > 50
    assert state.rows["user_trends"].deflated is None  # a day's totals are short: deflated with their run, per answer
    for first, last in ranges()[:16]:  # gzip.decompress checks the CRC-32 combined from the pieces' checksums
        body = state.document(first, last)
        assert gzip.decompress(body.gzipped()) == body.text()
        assert body.text() == orjson.dumps(job.committed_document(sample_warehouse, first, last, state.committed))


@pytest.mark.parametrize("seed", range(5))
def test_a_checksum_combined_from_parts_is_zlibs_checksum_of_the_joined_bytes(seed):
    rng = random.Random(seed)
    before, text, after = (rng.randbytes(rng.choice([0, 1, 255, 256, 70_000, rng.randrange(1 << 20)])) for _ in range(3))
    whole, prefix = zlib.crc32(text + after), zlib.crc32(text)
    assert crc.continued(zlib.crc32(before), zlib.crc32(after), 0, len(after)) == zlib.crc32(before + after)
    assert crc.continued(zlib.crc32(before), whole, prefix, len(after)) == zlib.crc32(before + after)


def test_a_range_whose_partitions_no_commit_holds_is_refused_saying_what_builds_them(state):
    records = {key: record for key, record in state.committed.records.items() if key != ("day", "2025-06-04")}
    missing_day = dataclasses.replace(state, committed=Committed(state.version, records))
    with pytest.raises(job.NotBuilt, match=r"does not hold 1 partition.*insights backfill --from 2025-06-04 --to 2025-06-04"):
        missing_day.document(dt.date(2025, 6, 1), dt.date(2025, 6, 15))
    assert missing_day.document(dt.date(2025, 6, 5), dt.date(2025, 6, 15)).text()
