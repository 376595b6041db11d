"""DuckDB connections set up the one way the project uses them: UTC, bounded, offline."""

from __future__ import annotations

import os

import duckdb


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC that never downloads an extension.

    ``threads`` and ``memory_limit`` default to ``INSIGHTS_DUCKDB_THREADS`` and
    ``INSIGHTS_DUCKDB_MEMORY_LIMIT`` when set, else DuckDB's own defaults.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    threads = threads or int(os.environ.get("INSIGHTS_DUCKDB_THREADS", "0") or 0)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    memory_limit = memory_limit or os.environ.get("INSIGHTS_DUCKDB_MEMORY_LIMIT")
    if memory_limit:
        con.execute("SET memory_limit = $limit", {"limit": memory_limit})
    return con
