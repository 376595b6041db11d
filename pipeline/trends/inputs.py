"""The lake as DuckDB relations: one view per raw entity, read from the files the lake committed."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.lake import Lake

LATEST_SNAPSHOT = ("features", "feature_types", "environments", "projects", "users")
EVERY_SNAPSHOT = ("project_members", "feature_lifecycles")
WHOLE = ("events", "user_activity")


def register(con: duckdb.DuckDBPyConnection, lake: Lake, first_day: dt.date, last_day: dt.date,
             history: bool = True) -> None:
    """Create the views the trend queries read.

    Metrics views (``client_metrics``, ``client_metrics_daily``) hold only ``first_day`` ..
    ``last_day``; with ``history``, ``client_metrics_all`` / ``client_metrics_daily_all`` hold
    every landed day (only the shared histories read them).
    """
    for entity in LATEST_SNAPSHOT:
        latest = lake.latest_snapshot(entity)
        _view(con, lake, entity, [latest] if latest else [])
    for entity in EVERY_SNAPSHOT:
        _view(con, lake, entity, lake.snapshot_files(entity))
    for entity in WHOLE:
        _view(con, lake, entity, lake.files(entity))
    for entity in ("client_metrics", "client_metrics_daily"):
        _view(con, lake, entity, lake.day_files(entity, first_day, last_day))
        if history:
            _view(con, lake, entity, lake.files(entity), name=f"{entity}_all")


def _view(con: duckdb.DuckDBPyConnection, lake: Lake, entity: str, files: list[str], name: str | None = None) -> None:
    relation = con.read_parquet(files, union_by_name=True) if files else con.from_arrow(lake.empty_table(entity))
    relation.create_view(name or entity, replace=True)
