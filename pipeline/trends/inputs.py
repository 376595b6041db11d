"""The lake as DuckDB relations: one view per raw entity, read from the files the lake committed."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from pipeline.entities import ENTITIES
from pipeline.lake import Lake

LATEST_SNAPSHOT = ("features", "feature_types", "environments", "projects", "users")
EVERY_SNAPSHOT = ("project_members", "feature_lifecycles")
WHOLE = ("events", "user_activity")


def register(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Create the views the trend queries read (the metrics apart: ``register_metrics``)."""
    for entity in LATEST_SNAPSHOT:
        latest = lake.latest_snapshot(entity)
        _view(con, lake, entity, [latest] if latest else [])
    for entity in EVERY_SNAPSHOT:
        _view(con, lake, entity, lake.snapshot_files(entity))
    for entity in WHOLE:
        _view(con, lake, entity, lake.files(entity))


def register_metrics(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Create the metrics views ``client_metrics_all`` (hourly) and ``client_metrics_daily_all``:
    every landed day, each from one of them (``metrics_files``), with the UTC ``day`` of its file.
    Only a history that needs every metrics row reads them (the trends read each day's sums,
    ``pipeline/trends/usage.py``)."""
    for entity, files in zip(("client_metrics", "client_metrics_daily"), metrics_files(lake)):
        _view(con, lake, entity, list(files.values()), name=f"{entity}_all")


def metrics_files(lake: Lake) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """The file each landed day's metrics count from, by day: (hourly files, daily files). A day
    counts from its hourly rows where the lake has any, else from its daily rows, never both."""
    hourly, daily = lake.day_files("client_metrics"), lake.day_files("client_metrics_daily")
    return hourly, {day: file for day, file in daily.items() if day not in hourly}


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
