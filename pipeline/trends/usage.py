"""Daily usage: each day's evaluations per flag, app and environment, with its flags' projects and
types and its environments' types.

A day's sums come from what landing rolled up (``pipeline.rollups``), several days at once, in
the file's order. Each day's rows then get their day, their flag's project and type at the end of
the day, and their environment's type, by lookups in each day's dictionaries. String columns stay
dictionary-encoded: a flag's name is stored once a day, not once a row.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import rollups
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


def day_files(lake: Lake, days: Collection[dt.date]) -> dict[dt.date, tuple[str, str | None]]:
    """The file each of ``days`` is counted from (``inputs.metrics_files``), for the days with
    metrics, and the sums landing wrote of it (None where the lake has none)."""
    hourly, daily = inputs.metrics_files(lake)
    sums = {**lake.day_sums_files("client_metrics_daily"), **lake.day_sums_files("client_metrics")}
    counted = {**daily, **hourly}
    return {day: (counted[day], sums.get(counted[day])) for day in sorted(days) if day in counted}


def daily_usage(lake: Lake, days: Collection[dt.date], projects: dict[dt.date, pa.Table],
                environments: pa.Table) -> list[pa.Table]:
    """Each of ``days``' usage, one table a day with metrics, in day order (columns: ``COMPACT``).

    A day's sums are read from what landing rolled up (``pipeline.rollups``), or summed from its
    file where the lake has none. ``projects`` holds each day's flags with their project and type
    (``PROJECTS``) where asked for (other days' flags have none); ``environments`` every
    environment's ``name`` and ``type``.
    """
    def one(item: tuple[dt.date, tuple[str, str | None]]) -> pa.Table:
        day, (path, sums) = item
        summed = rollups.read_sums(sums) if sums else rollups.day_sums(path)
        return _described(day, summed, projects.get(day, PROJECTS.empty_table()), environments)

    workers = int(os.environ.get("INSIGHTS_DUCKDB_THREADS", "0") or 0) or os.cpu_count() or 2
    with ThreadPoolExecutor(min(workers, 4)) as pool:
        tables = [t for t in pool.map(one, day_files(lake, days).items()) if t.num_rows]
    pa.default_memory_pool().release_unused()  # the day files' rows are gone: give their memory back
    return tables


def _described(day: dt.date, sums: pa.Table, projects: pa.Table, environments: pa.Table) -> pa.Table:
    """A day's sums with its day, each flag's project and type, and each environment's type."""
    flag, environment = sums["feature_name"].combine_chunks(), sums["environment"].combine_chunks()
    found = pc.index_in(flag.dictionary, value_set=projects["flag"].combine_chunks())
    typed = pc.index_in(environment.dictionary, value_set=environments["name"].combine_chunks())
    columns = {
        "day": pa.repeat(pa.scalar(day, pa.date32()), sums.num_rows),
        "flag": flag,
        "environment": environment,
        "environment_type": _looked_up(environment, environments["type"], typed),
        "app_name": sums["app_name"].combine_chunks(),
        "project": _looked_up(flag, projects["project"], found),
        "type": _looked_up(flag, projects["type"], found),
        "yes": sums["yes"].combine_chunks(),
        "no": sums["no"].combine_chunks(),
    }
    return pa.Table.from_arrays([columns[f.name] for f in COMPACT], schema=COMPACT)


def _looked_up(keys: pa.DictionaryArray, values: pa.ChunkedArray, positions: pa.Array) -> pa.DictionaryArray:
    """For each row, the value found for its key: ``positions`` gives, for each entry of the keys'
    dictionary, where its value is in ``values`` (null: none). Looked up once per entry, not per row."""
    per_entry = pc.dictionary_encode(pc.take(values.combine_chunks(), positions))
    return pa.DictionaryArray.from_arrays(pc.take(per_entry.indices, keys.indices), per_entry.dictionary)
