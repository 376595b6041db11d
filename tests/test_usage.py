"""A day file's sums per (flag, app, environment): pipeline/rollups.py's ``day_sums``."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.calendar import UTC
from pipeline.rollups import day_sums

HOUR = [dt.datetime(2025, 1, 6, h, tzinfo=UTC) for h in range(3)]


def day_file(path, rows: list[tuple], row_group_size: int = 1_000_000) -> str:
    """A day file of hourly rows (flag, app, environment, hour, yes, no), in the order given."""
    names = ["feature_name", "app_name", "environment", "timestamp", "yes", "no"]
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(names)},
                     schema=pa.schema([("feature_name", pa.string()), ("app_name", pa.string()),
                                       ("environment", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                                       ("yes", pa.int64()), ("no", pa.int64())]))
    pq.write_table(table, path, row_group_size=row_group_size)
    return str(path)


def sums(path: str) -> list[tuple]:
    return [tuple(r.values()) for r in day_sums(path).to_pylist()]


def test_each_key_of_a_file_in_key_order_is_one_row_across_row_groups(tmp_path):
    rows = [("a", "web", "production", HOUR[0], 1, 2), ("a", "web", "production", HOUR[1], 10, 20),
            ("a", "web", "production", HOUR[2], 100, 200), ("a", "worker", "production", HOUR[0], 5, 0),
            ("b", "web", "development", HOUR[0], 0, 7), ("b", "web", "production", HOUR[1], 3, 3)]
    assert sums(day_file(tmp_path / "day.parquet", rows, row_group_size=2)) == [
        ("a", "web", "production", 111, 222),  # three hours, over two row groups
        ("a", "worker", "production", 5, 0),
        ("b", "web", "development", 0, 7),
        ("b", "web", "production", 3, 3),
    ]


def test_a_file_not_in_key_order_still_gives_one_row_per_key(tmp_path):
    # hour first: each key's rows are apart
    rows = [("a", "web", "production", HOUR[0], 1, 2), ("b", "web", "production", HOUR[0], 3, 3),
            ("a", "web", "production", HOUR[1], 10, 20), ("b", "web", "production", HOUR[1], 4, 4),
            ("a", "worker", "production", HOUR[1], 5, 0)]
    assert sorted(sums(day_file(tmp_path / "day.parquet", rows))) == [
        ("a", "web", "production", 11, 22),
        ("a", "worker", "production", 5, 0),
        ("b", "web", "production", 7, 7),
    ]


def test_a_missing_count_counts_zero(tmp_path):
    rows = [("a", "web", "production", HOUR[0], None, 2), ("a", "web", "production", HOUR[1], 4, None)]
    assert sums(day_file(tmp_path / "day.parquet", rows)) == [("a", "web", "production", 4, 2)]


def test_an_empty_day_file_has_no_sums(tmp_path):
    assert sums(day_file(tmp_path / "day.parquet", [])) == []
