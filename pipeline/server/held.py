"""One committed state of the warehouse held in memory, so that an answer is slices, not a query.

Loading a state renders every row of every trend once as the JSON object the document holds (the
same query ``insights export`` uses, then ``orjson``'s bytes), in the document's order, with the
day or week each row is for. A document for a range whose days and weeks the state holds as the
range needs them is then, per trend, the byte ranges of its days or weeks joined (SPEC §3: every
weekly row a document holds is one a build stored); the lifecycle figures of any projects are a
few vector operations over the published ``flag_lifecycle`` table.

The files' bytes are read while the commit lock is held (a commit waits for that: tens of
milliseconds for a year's small files) and parsed after it is released.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import commits, document, duck, job, trends
from pipeline.server.body import Body, Piece, deflated
from pipeline.warehouse import SCHEMAS, Committed, Partition, Warehouse


DEFLATED_FROM_BYTES = 4096
"""A trend whose keys' rows average this long or longer (a large instance's weeks: hundreds of
projects) has each key's rows deflated once, when loaded; a trend of short keys (a day's totals)
compresses better a run of days at a time, as each answer is made."""


@dataclass(frozen=True)
class Rows:
    """One trend's rows as JSON objects joined by commas, in the document's order, with the key
    (a day or a week) of each and where each begins in ``text``; for a trend of long keys, each key's
    rows deflated (``body.deflated``) and the CRC-32 of the text up to where they begin and end."""

    text: bytes
    starts: np.ndarray
    """Where each row begins, and one more: where a row after the last would (``len(text) + 1``)."""
    spans: dict[object, tuple[int, int]]
    """Each key's rows, as (first, past the last) row numbers: a key's rows are consecutive."""
    deflated: dict[object, bytes] | None = None
    checksums: dict[object, tuple[int, int]] | None = None
    """Each key's CRC-32 of ``text`` up to its rows' start and up to their end (its last row's)."""

    def pieces(self, keys: list) -> list[Piece]:
        """The rows of ``keys`` (in the order given), with commas between: a key with no rows adds
        none. Keys whose rows lie next to each other are one piece."""
        runs: list[list] = []
        for key in keys:
            first, past = self.spans.get(key, (0, 0))
            if past <= first:
                continue
            if runs and runs[-1][1] == first:
                runs[-1][1] = past
                runs[-1][2].append(key)
            else:
                runs.append([first, past, [key]])
        text = memoryview(self.text)
        return _joined([[self._piece(text[self.starts[first]:self.starts[past] - 1], run)]
                        for first, past, run in runs])

    def _piece(self, text: memoryview, run: list) -> Piece:
        if self.deflated is None:
            return Piece(text)
        deflated = [COMMA_DEFLATED] * (2 * len(run) - 1)
        deflated[::2] = [self.deflated[key] for key in run]
        return Piece(text, b"".join(deflated), (self.checksums[run[-1]][1], self.checksums[run[0]][0]))


COMMA_DEFLATED = deflated(b",")


def _joined(groups: list[list[Piece]]) -> list[Piece]:
    """The groups' pieces in order, with a comma between each two groups that have any."""
    joined: list[Piece] = []
    for group in groups:
        if group:
            joined += [Piece(b","), *group] if joined else group
    return joined


RENDERED_AT_ONCE = 20_000
"""Rows rendered, checked and written again at a time: as Python objects, a large instance's year of
weekly rows all at once would take a gigabyte."""


def rows_of(con: duckdb.DuckDBPyConnection, trend: trends.Trend, table: pa.Table) -> Rows:
    """A trend's rows held: each rendered by ``document.objects_query`` (as ``insights export`` renders
    it), checked against the contract (a document of any of them then meets it: the schema
    constrains each row alone), and written again by ``orjson``; keyed by day or week."""
    relation = con.from_arrow(table)
    beside = (trend.grain,)
    empty = {t.array: [] for t in trends.TRENDS.values()}
    rendered: list[bytes] = []
    spans: dict[object, tuple[int, int]] = {}
    for batch in relation.query("trend_rows", document.objects_query(trend, relation, beside)).to_arrow_reader(
            RENDERED_AT_ONCE):
        objects = orjson.loads("[" + ",".join(batch.column(0).to_pylist()) + "]")
        document.validate({**empty, trend.array: objects})
        for key, row in zip(batch.column(1).to_pylist(), objects):
            number = len(rendered)
            first, _ = spans.get(key, (number, number))
            spans[key] = (first, number + 1)
            rendered.append(orjson.dumps(row))
    starts = np.zeros(len(rendered) + 1, np.int64)
    np.cumsum([len(row) + 1 for row in rendered], out=starts[1:])
    text = b",".join(rendered)
    if not spans or starts[-1] < DEFLATED_FROM_BYTES * len(spans):
        return Rows(text, starts, spans)
    streams, checksums, running, at, view = {}, {}, 0, 0, memoryview(text)
    for key, (first, past) in sorted(spans.items(), key=lambda item: item[1]):
        begin, end = starts[first], starts[past] - 1
        before = running = zlib.crc32(view[at:begin], running)
        running = zlib.crc32(view[begin:end], running)
        streams[key], checksums[key], at = deflated(view[begin:end]), (before, running), end
    return Rows(text, starts, spans, streams, checksums)


@dataclass(frozen=True)
class Held:
    """A committed state as held in memory: its records, every trend's rows, the published
    lifecycle table (None where the ``flags`` tables are not as of the state's last day), and the
    ``flags`` table as the state holds it, whatever day it is as of (None where no run wrote it)."""

    committed: Committed
    rows: dict[str, Rows]
    lifecycle: trends.PublishedLifecycle | None
    flags: pa.Table | None = None
    projects: pa.Table | None = None
    """The latest week's ``project_flag_trends`` rows (None where the state holds no week)."""

    @property
    def version(self) -> int:
        return self.committed.version

    def document(self, first: dt.date, last: dt.date) -> Body:
        """The insights document for ``first``..``last``: the JSON bytes ``orjson`` writes for
        ``job.committed_document``, slices of the rows held. ``job.NotBuilt`` where the state lacks a
        partition the range needs (a warehouse half built)."""
        keys: dict[str, list] = {"day": [], "week": []}
        needed = job.document_partitions(first, last, self.committed)
        if lacking := [p for p in needed if not self.committed.holds(p)]:
            raise job.NotBuilt(job.not_built(lacking))
        for partition in needed:
            keys[partition.grain].append(partition.snapshot_day if partition.grain == "day" else partition.key)
        arrays = []
        for trend in trends.TRENDS.values():
            rows = self.rows[trend.name].pieces(keys[trend.grain])
            arrays.append([Piece(b'"' + trend.array.encode() + b'":['), *rows, Piece(b"]")])
        return Body([Piece(b"{"), *_joined(arrays), Piece(b"}")])


HELD = [*trends.TRENDS, "flag_lifecycle", "flags"]
"""The stored datasets a held state reads."""


def load_held(data_dir: Path) -> Held | None:
    """The committed state now, held; None where nothing is committed. Raises
    ``commits.WarehouseUnreadable`` where the warehouse is torn, ``document.InvalidDocument`` where a
    stored row does not meet the contract."""
    warehouse = Warehouse(data_dir)
    with commits.reading(data_dir) as state:
        if state is None:
            return None
        committed = warehouse.committed(state.version)
        stored = {name: dict(_read(warehouse, name, committed)) for name in HELD}
    with ThreadPoolExecutor(4) as pool:  # most of the parsing is each small file's footer: several at once
        tables = {name: pa.concat_tables([SCHEMAS[name].empty_table(), *pool.map(
            lambda data, schema=SCHEMAS[name]: pq.read_table(pa.BufferReader(data), schema=schema),
            by_key.values())]) for name, by_key in stored.items()}
    con = duck.connect()
    try:
        rows = {t.name: rows_of(con, t, tables[t.name]) for t in trends.TRENDS.values()}
    finally:
        con.close()
    flags = committed.records.get(("flags", "latest"))
    current = flags is not None and flags["snapshot_day"] == committed.last_day.isoformat()
    lifecycle = trends.PublishedLifecycle(tables["flag_lifecycle"]) if current and stored["flag_lifecycle"] else None
    weeks = tables["project_flag_trends"]
    projects = weeks.filter(pc.equal(weeks["week"], pc.max(weeks["week"]))) if weeks.num_rows else None
    return Held(committed, rows, lifecycle, tables["flags"] if stored["flags"] else None, projects)


def _read(warehouse: Warehouse, dataset: str, committed: Committed) -> Iterator[tuple[str, bytes]]:
    """The bytes of each file holding a dataset's committed partitions (a month's days share one), by
    path (a missing one is skipped). Read whole while the commit lock is held: a few milliseconds
    for a year's small files, parsed after it is released."""
    grain = trends.DATASETS[dataset].grain
    partitions = [Partition(grain, key, dt.date.fromisoformat(record["snapshot_day"]))
                  for (record_grain, key), record in sorted(committed.records.items()) if record_grain == grain]
    for path in warehouse.files_for(dataset, partitions):
        try:
            with open(path, "rb") as file:
                yield path, file.read()
        except FileNotFoundError:
            continue
