"""The export-directory source: a folder in the lake's own raw layout, e.g. another data directory's lake.

This is how raw data moves between machines: copy ``<data dir>/lake`` (or a folder ``insights
sample --out`` wrote) and name it as the source. Snapshot entities are read from their newest
snapshot; the rest whole, and filtered by the landing lake's watermarks as any source is.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

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
        paths = self.lake.files(entity)
        if not paths:
            return ENTITIES[entity].schema.empty_table()
        return pa.concat_tables([pq.read_table(p).select(ENTITIES[entity].schema.names) for p in paths])
