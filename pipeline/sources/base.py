"""The one interface every source meets, and a session over tables already in memory."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Iterable, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.entities import ENTITIES
from pipeline.lake import SourceSession


class Source(Protocol):
    """Where raw Unleash data comes from. ``name`` is safe to log: it never holds a credential."""

    name: str

    def session(self) -> AbstractContextManager[SourceSession]:
        """One consistent read of every entity."""


class SourceError(RuntimeError):
    """A source that cannot be read: its message is one line a user can act on."""


class SourceUnavailable(SourceError):
    """A source that cannot be read just now (a refused or dropped connection, a server starting up
    or shutting down, a timeout): nothing was landed, and trying again later may succeed."""


class SourceRefused(SourceError):
    """A source that can never be read as it is set up (bad credentials, a missing grant, a schema
    this version cannot read, not an Unleash database): trying again will not help."""


class UnknownSource(SourceError):
    """A source name that is neither ``sample``, a ``postgresql://`` URL nor an export directory."""


class TableSession:
    """A source session over whole tables in memory, filtered by each entity's watermark."""

    def __init__(self, tables: dict[str, pa.Table], extracted_at: dt.datetime):
        self.tables = tables
        self.extracted_at = extracted_at

    def read(self, entity: str, since: object | None) -> Iterable[pa.RecordBatch] | None:
        table = self.tables.get(entity)
        if table is None:
            return None
        spec = ENTITIES[entity]
        if since is not None and spec.kind != "snapshot":
            column = "id" if spec.kind == "events" else spec.time_column
            bound = pa.scalar(since, type=table.schema.field(column).type)
            keep = pc.greater(table[column], bound) if column == "id" else pc.greater_equal(table[column], bound)
            table = table.filter(keep)
        return table.to_batches()
