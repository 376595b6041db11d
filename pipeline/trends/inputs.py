"""The lake as DuckDB relations: one view per raw entity, read from the files the lake committed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import duckdb
import pyarrow as pa

from pipeline.entities import ENTITIES
from pipeline.lake import Lake

LATEST_SNAPSHOT = ("features", "feature_types", "environments", "projects", "users")
EVERY_SNAPSHOT = ("project_members", "feature_lifecycles")
WHOLE = ("events", "user_activity")


def register(con: duckdb.DuckDBPyConnection, lake: Lake, usage_days: Collection[dt.date] = (),
             history: bool = True) -> None:
    """Create the views the trend queries read.

    The metrics views ``client_metrics`` (hourly) and ``client_metrics_daily`` read only the files
    of ``usage_days``, each day from one of them: its hourly rows where the lake has any, its
    daily rows otherwise. With ``history``, ``client_metrics_all`` / ``client_metrics_daily_all``
    do the same for every landed day (only the shared histories read them). Both carry the UTC
    ``day`` of their file.
    """
    for entity in LATEST_SNAPSHOT:
        latest = lake.latest_snapshot(entity)
        _view(con, lake, entity, [latest] if latest else [])
    for entity in EVERY_SNAPSHOT:
        _view(con, lake, entity, lake.snapshot_files(entity))
    for entity in WHOLE:
        _view(con, lake, entity, lake.files(entity))
    hourly, daily = lake.day_files("client_metrics"), lake.day_files("client_metrics_daily")
    daily = {day: file for day, file in daily.items() if day not in hourly}
    wanted = set(usage_days)
    for entity, files in (("client_metrics", hourly), ("client_metrics_daily", daily)):
        _view(con, lake, entity, [f for day, f in files.items() if day in wanted])
        if history:
            _view(con, lake, entity, list(files.values()), name=f"{entity}_all")


def _view(con: duckdb.DuckDBPyConnection, lake: Lake, entity: str, files: list[str], name: str | None = None) -> None:
    by_day = ENTITIES[entity].kind == "daily_files"
    if files:
        relation = con.read_parquet(files, union_by_name=True, hive_partitioning=by_day)
    else:
        empty = lake.empty_table(entity)
        if by_day:
            empty = empty.append_column("day", pa.array([], pa.date32()))
        relation = con.from_arrow(empty)
    relation.create_view(name or entity, replace=True)
