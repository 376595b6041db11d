"""The export-directory source: a folder in the lake's own raw layout, e.g. another data directory's lake.

This is how raw data moves between machines: copy ``<data dir>/lake`` (or a folder ``insights
sample --out`` wrote) and name it as the source. Snapshot entities are read from their newest
snapshot; the rest whole, and filtered by the landing lake's watermarks as any source is. The
metrics of flag names the exporting lake did not know, which it set aside, come along: the landing
lake sets them aside in turn (they make its ``unknown_flags``).
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import quarantine
from pipeline.entities import ENTITIES, SNAPSHOT_STAMP
from pipeline.lake import STATE_FILE, Lake
from pipeline.sources.base import SourceRefused, TableSession, UnknownSource


class ExportDirSource:
    """Raw tables read from a lake folder (``…/lake``) or a data directory holding one."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        if (folder / "lake" / STATE_FILE).exists():
            folder = folder / "lake"
        if not (folder / STATE_FILE).exists():
            raise UnknownSource(f"{folder} is not an export directory: it has no {STATE_FILE} (write one with `insights sample --out`)")
        self.lake = Lake(folder.parent, root=folder)
        self.name = f"export-dir({folder})"

    @contextmanager
    def session(self) -> Iterator[TableSession]:
        landings = self.lake.landings
        if not landings:
            raise SourceRefused(f"export directory {self.lake.root} holds no landed data")
        extracted_at = dt.datetime.fromisoformat(landings[-1]["extracted_at"])
        yield TableSession({name: self._table(name) for name in ENTITIES if self._has(name)}, extracted_at)

    def _has(self, entity: str) -> bool:
        return entity in self.lake.state["entities"]

    def _table(self, entity: str) -> pa.Table:
        if ENTITIES[entity].kind == "snapshot":
            return pq.read_table(self.lake.latest_snapshot(entity)).drop_columns([SNAPSHOT_STAMP])
        schema = ENTITIES[entity].schema
        tables = [pq.read_table(p).select(schema.names) for p in self.lake.files(entity)]
        if entity.startswith("client_metrics"):
            tables.append(self._set_aside_as_unknown(entity))
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def _set_aside_as_unknown(self, entity: str) -> pa.Table:
        """The metrics rows the exporting lake set aside as of flags it did not know."""
        schema, time_column = ENTITIES[entity].schema, ENTITIES[entity].time_column
        parse = dt.date.fromisoformat if schema.field(time_column).type == pa.date32() else dt.datetime.fromisoformat
        rows = [json.loads(r["row"]) for path in self.lake.quarantine_files(entity)
                for r in pq.read_table(path).to_pylist() if r["reason"] == quarantine.UNKNOWN_FLAG]
        return pa.Table.from_pylist([{**row, time_column: parse(row[time_column])} for row in rows], schema)
