"""Daily usage: each day's evaluations per flag, environment and app, summed from its day file.

The lake keeps one metrics file a day (hourly rows, or Unleash's daily rows for a day without
hours), so a day's sums never need another day's rows: the days are summed one file at a time,
several at once (``sql/flags/flag_usage_of_day.sql``), each day's rows sorted as they come. That
is faster, and needs far less memory, than one aggregation of every day's rows together (a year
is 365 million hourly rows to 15 million daily ones), and the days stay in order with no sort of
the whole. Each day's rows then get their day, their flag's project and type at the end of the
day, and their environment's type, by lookups in small tables. String columns are kept
dictionary-encoded: a flag's name is stored once a day, not once a row.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import queries
from pipeline.lake import Lake
from pipeline.trends import inputs

SCHEMA = pa.schema([("day", pa.date32()), ("flag", pa.string()), ("environment", pa.string()),
                    ("environment_type", pa.string()), ("app_name", pa.string()), ("project", pa.string()),
                    ("type", pa.string()), ("yes", pa.int64()), ("no", pa.int64())])
"""The columns of a day's usage; the strings are dictionary-encoded in the tables returned."""
COMPACT = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), pa.string())) if f.type == pa.string() else f
                     for f in SCHEMA])
PROJECTS = pa.schema([("flag", pa.string()), ("project", pa.string()), ("type", pa.string())])
"""A day's flags with their project and type at its end."""


def day_files(lake: Lake, days: Collection[dt.date]) -> dict[dt.date, str]:
    """The file each of ``days`` is counted from (``inputs.metrics_files``), for the days with metrics."""
    hourly, daily = inputs.metrics_files(lake)
    counted = {**daily, **hourly}
    return {day: counted[day] for day in sorted(days) if day in counted}


def daily_usage(con: duckdb.DuckDBPyConnection, lake: Lake, days: Collection[dt.date],
                projects: dict[dt.date, pa.Table], environments: pa.Table) -> list[pa.Table]:
    """Each of ``days``' usage, one table a day with metrics, in day order (columns: ``COMPACT``).

    ``projects`` holds each day's flags with their project and type (``PROJECTS``) where asked
    for (other days' flags have none); ``environments`` every environment's ``name`` and ``type``.
    """
    query = queries.load("flags/flag_usage_of_day")

    def one(item: tuple[dt.date, str]) -> pa.Table:
        day, path = item
        cursor = con.cursor()
        try:
            sums = cursor.sql(query, params={"file": path}).to_arrow_table()
        finally:
            cursor.close()
        return _described(day, sums, projects.get(day, PROJECTS.empty_table()), environments)

    workers = int(os.environ.get("INSIGHTS_DUCKDB_THREADS", "0") or 0) or os.cpu_count() or 2
    with ThreadPoolExecutor(min(workers, 4)) as pool:
        return [t for t in pool.map(one, day_files(lake, days).items()) if t.num_rows]


def _described(day: dt.date, sums: pa.Table, projects: pa.Table, environments: pa.Table) -> pa.Table:
    """A day's sums with its day, each flag's project and type, and each environment's type."""
    flag = pc.dictionary_encode(sums["flag"].combine_chunks())
    environment = pc.dictionary_encode(sums["environment"].combine_chunks())
    found = pc.index_in(flag.dictionary, value_set=projects["flag"].combine_chunks())
    typed = pc.index_in(environment.dictionary, value_set=environments["name"].combine_chunks())
    columns = {
        "day": pa.array([day] * sums.num_rows, pa.date32()),
        "flag": flag,
        "environment": environment,
        "environment_type": _looked_up(environment.indices, environments["type"], typed),
        "app_name": pc.dictionary_encode(sums["app_name"].combine_chunks()),
        "project": _looked_up(flag.indices, projects["project"], found),
        "type": _looked_up(flag.indices, projects["type"], found),
        "yes": sums["yes"].combine_chunks(),
        "no": sums["no"].combine_chunks(),
    }
    return pa.Table.from_arrays([columns[f.name] for f in COMPACT], schema=COMPACT)


def _looked_up(indices: pa.Array, values: pa.ChunkedArray, positions: pa.Array) -> pa.DictionaryArray:
    """For each row (its code ``indices`` into the looked-up keys), the value found at ``positions``."""
    found = pc.take(values.combine_chunks(), positions)
    return pc.dictionary_encode(pc.take(found, indices))
