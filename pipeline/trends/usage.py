"""Daily usage: each day's evaluations per flag, app and environment, summed from its day file.

The lake keeps one metrics file a day (hourly rows, or Unleash's daily rows for a day without
hours), sorted by its key: flag, app name, environment, then hour or date (``pipeline.entities``).
So a day's sums never need another day's rows, and within a day each (flag, app, environment)
is one run of consecutive rows: its sums are the run's sums, found by comparing each row's
dictionary codes with the previous row's, with no hash table and no sort. The days are summed one
file at a time, several at once, and come out in the file's order. Each day's rows then get
their day, their flag's project and type at the end of the day, and their environment's type,
by lookups in each day's dictionaries. String columns stay dictionary-encoded: a flag's name is
stored once a day, not once a row.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.lake import Lake
from pipeline.trends import inputs

KEY = ("feature_name", "app_name", "environment")
"""A day file's grouping columns, in the order the lake sorts it."""
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


def daily_usage(lake: Lake, days: Collection[dt.date], projects: dict[dt.date, pa.Table],
                environments: pa.Table) -> list[pa.Table]:
    """Each of ``days``' usage, one table a day with metrics, in day order (columns: ``COMPACT``).

    ``projects`` holds each day's flags with their project and type (``PROJECTS``) where asked
    for (other days' flags have none); ``environments`` every environment's ``name`` and ``type``.
    """
    def one(item: tuple[dt.date, str]) -> pa.Table:
        day, path = item
        return _described(day, day_sums(path), projects.get(day, PROJECTS.empty_table()), environments)

    workers = int(os.environ.get("INSIGHTS_DUCKDB_THREADS", "0") or 0) or os.cpu_count() or 2
    with ThreadPoolExecutor(min(workers, 4)) as pool:
        tables = [t for t in pool.map(one, day_files(lake, days).items()) if t.num_rows]
    pa.default_memory_pool().release_unused()  # the day files' rows are gone: give their memory back
    return tables


def day_sums(path: str) -> pa.Table:
    """One day file's evaluations per (flag, app name, environment).

    Grain: one row per key; columns ``feature_name``, ``app_name``, ``environment``
    (dictionary-encoded), ``yes`` and ``no`` (evaluation counts; a missing count counts 0). In a
    file sorted by ``KEY``, as the lake writes every day file, each key is one run of rows and the
    rows come out in the file's order; a file whose keys are not in runs (written by other code)
    is first put in order of its keys' dictionary codes.
    """
    rows = pq.read_table(path, columns=[*KEY, "yes", "no"], read_dictionary=list(KEY), use_threads=False)
    if any(column.num_chunks != 1 for column in rows.columns):
        rows = rows.unify_dictionaries().combine_chunks()
    if not rows.num_rows:
        return rows
    codes = [_codes(rows[name].chunk(0)) for name in KEY]
    first = _run_starts(codes)
    ordered = np.sort(_key_numbers(codes, rows, first))
    if np.any(ordered[1:] == ordered[:-1]):  # a key in several runs: order the rows by key first
        numbers = _key_numbers(codes, rows)
        order = np.argsort(numbers, kind="stable")
        rows = rows.take(pa.array(order))
        first = _run_starts([numbers[order]])
    taken = pa.array(first)
    sums = {name: np.add.reduceat(rows[name].chunk(0).fill_null(0).to_numpy(), first) for name in ("yes", "no")}
    return pa.table({**{name: rows[name].chunk(0).take(taken) for name in KEY},
                     **{name: pa.array(values, pa.int64()) for name, values in sums.items()}})


def _codes(column: pa.DictionaryArray) -> np.ndarray:
    """Each row's dictionary code, a null as one more code."""
    indices = column.indices
    return (indices.fill_null(len(column.dictionary)) if indices.null_count else indices).to_numpy()


def _run_starts(codes: list[np.ndarray]) -> np.ndarray:
    """The rows where a run of equal keys begins (the first row always does)."""
    starts = np.zeros(len(codes[0]), dtype=bool)
    starts[0] = True
    for column in codes:
        starts[1:] |= column[1:] != column[:-1]
    return np.flatnonzero(starts)


def _key_numbers(codes: list[np.ndarray], rows: pa.Table, at: np.ndarray | None = None) -> np.ndarray:
    """One number per key (of the rows ``at``, or every row), from its columns' codes."""
    number = np.zeros(len(codes[0]) if at is None else len(at), dtype=np.int64)
    for name, column in zip(KEY, codes):
        number = number * (len(rows[name].chunk(0).dictionary) + 1) + (column if at is None else column[at])
    return number


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
