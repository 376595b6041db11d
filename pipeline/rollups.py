"""Each landed day of metrics rolled up once: its evaluations per (flag, app name, environment).

The lake keeps one metrics file a day (hourly rows, or Unleash's daily rows for a day without
hours), sorted by its key: flag, app name, environment, then hour or date
(``pipeline.entities``). Landing a day file writes its sums beside it (``Lake.day_sums_files``),
so a build reads a day's few thousand sums rather than its million hourly rows; a day whose sums
the lake lacks (landed by older code) is summed from its file as the build reads it, with the
same function and to the same table.

Within a day file each (flag, app, environment) is one run of consecutive rows: its sums are the
run's sums, found by comparing each row's dictionary codes with the previous row's, with no hash
table and no sort, in the file's order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

KEY = ("feature_name", "app_name", "environment")
"""A day file's grouping columns, in the order the lake sorts it."""
SUFFIX = ".sums.parquet"
"""A day's sums file is named after its day file: ``g000042.parquet`` -> ``g000042.sums.parquet``."""


def sums_name(day_file: str) -> str:
    """The name of the sums file of a day file (both relative to the lake)."""
    return day_file.removesuffix(".parquet") + SUFFIX


def read_sums(path: str) -> pa.Table:
    """A sums file as ``day_sums`` returned it when it was written (strings dictionary-encoded, the
    same dictionaries)."""
    return pq.read_table(path, read_dictionary=list(KEY), use_threads=False)


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
