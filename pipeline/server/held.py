"""One committed state of the warehouse held in memory, so that an answer is slices, not a query.

Loading a state renders every row of every trend once as the JSON object the document holds (the
same query ``insights export`` uses, then ``orjson``'s bytes), in the document's order, with the
day or week each row is for. The weekly trends' rows as of each day before a week's snapshot day
(``trends.WEEK_TO_DATE``) are held the same way, for ranges that end mid-week. A document for any
range is then, per trend, the byte ranges of its days or weeks joined; the lifecycle figures of any
projects are a few vector operations over the published ``flag_lifecycle`` table.

The files' bytes are read while the commit lock is held (a commit waits for that: tens of
milliseconds for a year's small files) and parsed after it is released.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import commits, document, duck, job, trends
from pipeline.server.body import Body, Piece, deflated
from pipeline.warehouse import STORED_SCHEMAS, Committed, Partition, Warehouse


DEFLATED_FROM_BYTES = 16384
"""A key's rows this long or longer are deflated once, when loaded (a large instance's week: hundreds
of projects); shorter ones compress better together, as each answer is made."""


@dataclass(frozen=True)
class Rows:
    """One trend's rows as JSON objects joined by commas, in the document's order, with the key
    (a day, a week, or a week and the day it is seen at) of each and where each begins in ``text``;
    the rows of each key with many, deflated too (``body.deflated``)."""

    text: bytes
    starts: np.ndarray
    """Where each row begins, and one more: where a row after the last would (``len(text) + 1``)."""
    spans: dict[object, tuple[int, int]]
    """Each key's rows, as (first, past the last) row numbers: a key's rows are consecutive."""
    deflated: dict[object, bytes]

    def pieces(self, keys: list) -> list[Piece]:
        """The rows of ``keys`` (in the order given), with commas between: a key with no rows adds
        none. Keys whose rows lie next to each other are one piece, unless deflated in advance."""
        ranges: list[list] = []
        for key in keys:
            first, past = self.spans.get(key, (0, 0))
            if past <= first:
                continue
            deflated = self.deflated.get(key)
            if ranges and ranges[-1][1] == first and ranges[-1][2] is None and deflated is None:
                ranges[-1][1] = past
            else:
                ranges.append([first, past, deflated])
        text = memoryview(self.text)
        pieces = []
        for first, past, deflated in ranges:
            pieces += [Piece(b","), Piece(text[self.starts[first]:self.starts[past] - 1], deflated)]
        return pieces[1:]


def rows_of(con: duckdb.DuckDBPyConnection, trend: trends.Trend, table: pa.Table, seen_at: bool = False) -> Rows:
    """A trend's rows held: each rendered by ``document.objects_query`` (as ``insights export`` renders
    it) and written again by ``orjson``, keyed by day or week, or with ``seen_at`` by (week, day of
    its ``date``)."""
    relation = con.from_arrow(table)
    beside = ("week", "date") if seen_at else (trend.grain,)
    fetched = relation.query("trend_rows", document.objects_query(trend, relation, beside)).fetchall()
    rendered = [orjson.dumps(row) for row in orjson.loads("[" + ",".join(row[0] for row in fetched) + "]")]
    starts = np.zeros(len(rendered) + 1, np.int64)
    np.cumsum([len(row) + 1 for row in rendered], out=starts[1:])
    spans: dict[object, tuple[int, int]] = {}
    for number, row in enumerate(fetched):
        key = (row[1], row[2].astimezone(dt.timezone.utc).date()) if seen_at else row[1]
        first, _ = spans.get(key, (number, number))
        spans[key] = (first, number + 1)
    text = b",".join(rendered)
    large = {key: deflated(text[starts[first]:starts[past] - 1]) for key, (first, past) in spans.items()
             if starts[past] - starts[first] >= DEFLATED_FROM_BYTES}
    return Rows(text, starts, spans, large)


@dataclass(frozen=True)
class Held:
    """A committed state as held in memory: its records, every trend's rows, the weekly trends' rows
    as of each earlier day of the weeks whose build kept them, and the published lifecycle table
    (None where the ``flags`` tables are not as of the state's last day)."""

    committed: Committed
    rows: dict[str, Rows]
    to_date: dict[str, Rows]
    to_date_weeks: frozenset[str]
    lifecycle: trends.PublishedLifecycle | None

    @property
    def version(self) -> int:
        return self.committed.version

    def document(self, first: dt.date, last: dt.date) -> Body | None:
        """The insights document for ``first``..``last``: the JSON bytes ``orjson`` writes for
        ``job.committed_document``; None where the state does not hold a partition it needs (a day
        or week no commit built, or a week seen at an earlier day whose rows were not kept)."""
        covered_first, covered_last = job.document_days(first, last, self.committed)
        keys: dict[str, list] = {"day": [], "week": []}
        if covered_first is not None:
            for partition in job.partitions_between(covered_first, covered_last, covered_last):
                key = self._key(partition)
                if key is None:
                    return None
                keys[partition.grain].append(key)
        pieces = []
        for trend in trends.TRENDS.values():
            pieces.append(Piece(b'"' + trend.array.encode() + b'":['))
            if trend.grain == "day":
                pieces += self.rows[trend.name].pieces(keys["day"])
            else:
                own, earlier = self.rows[trend.name], self.to_date[trend.name]
                weeks = [rows for key in keys["week"]
                         if (rows := (own if isinstance(key, str) else earlier).pieces([key]))]
                for number, rows in enumerate(weeks):  # commas between the weeks with rows
                    pieces += [Piece(b","), *rows] if number else rows
            pieces.append(Piece(b"],"))
        return Body([Piece(b"{"), *pieces[:-1], Piece(b"]}")])

    def _key(self, partition: Partition) -> object | None:
        """Where a partition's rows are held: a day; a week, as committed; (week, day) for a week seen
        at a day before its committed snapshot day. None: not held."""
        record = self.committed.records.get((partition.grain, partition.key))
        if record is None:
            return None
        if record["snapshot_day"] == partition.snapshot_day.isoformat():
            return partition.snapshot_day if partition.grain == "day" else partition.key
        earlier = partition.grain == "week" and record["snapshot_day"] > partition.snapshot_day.isoformat()
        return (partition.key, partition.snapshot_day) if earlier and partition.key in self.to_date_weeks else None


HELD = [*trends.TRENDS, *(trends.to_date_name(t.name) for t in trends.TRENDS.values() if t.grain == "week"),
        "flag_lifecycle"]
"""The stored datasets a held state reads."""


def load(data_dir: Path) -> Held | None:
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
        tables = {name: pa.concat_tables([STORED_SCHEMAS[name].empty_table(), *pool.map(
            lambda data, schema=STORED_SCHEMAS[name]: pq.read_table(pa.BufferReader(data), schema=schema),
            by_key.values())]) for name, by_key in stored.items()}
    weekly = [t for t in trends.TRENDS.values() if t.grain == "week"]
    con = duck.connect()
    try:
        rows = {t.name: rows_of(con, t, tables[t.name]) for t in trends.TRENDS.values()}
        to_date = {t.name: rows_of(con, t, tables[trends.to_date_name(t.name)], seen_at=True) for t in weekly}
    finally:
        con.close()
    _validate(rows, to_date)
    to_date_weeks = frozenset.intersection(*(frozenset(stored[trends.to_date_name(t.name)]) for t in weekly))
    flags = committed.records.get(("flags", "latest"))
    current = flags is not None and flags["snapshot_day"] == committed.last_day.isoformat()
    lifecycle = trends.PublishedLifecycle(tables["flag_lifecycle"]) if current and stored["flag_lifecycle"] else None
    return Held(committed, rows, to_date, to_date_weeks, lifecycle)


def _read(warehouse: Warehouse, dataset: str, committed: Committed) -> Iterator[tuple[str, bytes]]:
    """The bytes of the file of each of a dataset's committed partitions, by key (a missing one is
    skipped). Read whole while the commit lock is held: a few milliseconds for a year's small files,
    parsed after it is released."""
    grain = trends.DATASETS[dataset.rsplit("/", 1)[-1]].grain
    for (record_grain, key), record in sorted(committed.records.items()):
        if record_grain == grain:
            partition = Partition(grain, key, dt.date.fromisoformat(record["snapshot_day"]))
            try:
                yield key, warehouse.path(dataset, partition).read_bytes()
            except FileNotFoundError:
                continue


def _validate(rows: dict[str, Rows], to_date: dict[str, Rows]) -> None:
    """Every held row against the contract, once: a document of any of them then meets it too (the
    schema constrains each row alone)."""
    for held in (rows, {**{t: Rows(b"", np.zeros(1, np.int64), {}, {}) for t in rows}, **to_date}):
        document.validate({trends.TRENDS[t].array: orjson.loads(b"[" + r.text + b"]") for t, r in held.items()})
