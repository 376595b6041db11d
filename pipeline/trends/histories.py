"""The histories every partition shares, kept from one landing to the next and continued with only
what each landing added.

The histories (``HISTORIES``: flag and project changes, type lifetimes, environment enablement
spans, each flag's production entry) replay the whole event log. A folder ``prepare`` wrote for
one lake generation holds them, with what continuing them needs: each flag incarnation's facts
(``flag_incarnations``), the few events the project and lifetime histories replay
(``history_events``), and ``continued.json`` (the event and lifecycle files replayed, and the
latest instant they reached). The next generation's folder continues from it, reading only the
new files, where that gives what a full replay would (``sql/flag_incarnations.sql`` and
``sql/flag_history.sql`` say how): every new event is after the latest instant replayed, every
incarnation kept its first state, and no new incarnation starts before that instant. Anything
else (an event landed late, a flag recreated, a snapshot that rewrites an old flag's first state,
other code) replays everything.

A flag's or an environment's row changes only while it is the latest (``until`` infinity, or an
open span): the other rows are kept in ``closed`` part files written once and linked into each
later folder, merged as a binary counter merges (so a history of n days is O(log n) files), and
only the latest rows are written again each day. Time and memory per day follow the day's events,
not the history's length, apart from reading the histories themselves.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import duck, files, queries
from pipeline.lake import Lake
from pipeline.trends import inputs

log = logging.getLogger(__name__)

HISTORIES = ("flag_history", "project_history", "type_lifetimes", "environment_enablement", "flag_live")
"""What every partition shares, in the order they build on each other."""
CLOSED = {"flag_history": "until = 'infinity'::TIMESTAMPTZ", "environment_enablement": "enabled_until IS NULL"}
"""The histories kept in closed parts, and which of their rows are the latest (rewritten each day)."""
MANIFEST = "continued.json"
HISTORY_EVENTS = "type IN ('project-created', 'project-archived', 'project-revived', 'project-deleted', " \
                 "'feature-type-updated')"
"""The events ``project_history`` and ``type_lifetimes`` replay: kept whole, they are few."""
_BEFORE = {
    "flag_incarnations_before": "flag VARCHAR, incarnation BIGINT, has_events BOOLEAN, created_event_at TIMESTAMPTZ, "
    "created_project VARCHAR, created_type VARCHAR, created_stale BOOLEAN, first_project_change_at TIMESTAMPTZ, "
    "first_old_project VARCHAR, first_stale_change_is_off BOOLEAN, has_archive_events BOOLEAN, "
    "created_at TIMESTAMPTZ, first_seen_at TIMESTAMPTZ, project VARCHAR, type VARCHAR, stale BOOLEAN, "
    "snapshot_archived_at TIMESTAMPTZ",
    "flag_history_open_before": "flag VARCHAR, incarnation BIGINT, created_at TIMESTAMPTZ, changed_at TIMESTAMPTZ, "
    "seq BIGINT, change VARCHAR, project VARCHAR, type VARCHAR, stale BOOLEAN, archived BOOLEAN, deleted BOOLEAN, "
    "until TIMESTAMPTZ",
    "environment_enablement_open_before": "flag VARCHAR, incarnation BIGINT, environment VARCHAR, "
    "enabled_from TIMESTAMPTZ, enabled_until TIMESTAMPTZ",
    "flag_live_before": "flag VARCHAR, live_at TIMESTAMPTZ",
}
"""The state a history continues from (empty: a full replay), as ``sql/`` reads it."""
FIRST_STATE = ("created_at", "first_seen_at", "project", "type", "stale", "snapshot_archived_at")
"""An incarnation's first state (``sql/flag_incarnations.sql``): where it changes, history before is rewritten."""


def paths(folder: Path, history: str) -> list[str]:
    """The files holding one history in a folder ``prepare`` wrote: its latest rows, then its closed parts."""
    return [str(Path(folder) / f"{history}.parquet"), *(str(p) for p in _parts(Path(folder), history))]


def is_prepared(folder: Path) -> bool:
    """Whether ``prepare`` finished writing ``folder`` (its manifest is written last)."""
    return (Path(folder) / MANIFEST).exists()


def load(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Each history of ``folder`` as a table of ``con`` named after it."""
    for history in HISTORIES:
        con.read_parquet(paths(folder, history)).to_table(history)


def replay(con: duckdb.DuckDBPyConnection, lake: Lake, names: tuple[str, ...] = HISTORIES) -> None:
    """The histories ``names`` as tables of ``con``, replayed from the whole lake in memory, writing
    nothing; ``con`` has the lake's views (``inputs.register``)."""
    _empty_before(con)
    _incarnations(con)
    for history in HISTORIES:
        if history in names:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {history} AS {queries.load(_query(con, lake, history))}")


def prepare(lake: Lake, folder: Path, previous: Path | None = None) -> None:
    """Write the histories of the lake as it is into ``folder``: continued from ``previous`` (a folder
    this code wrote for an earlier generation of the same lake) where that gives what a full replay
    gives, else replayed in full."""
    folder.mkdir(parents=True, exist_ok=True)
    replayed = {"events": _names(lake, lake.files("events")),
                "lifecycles": _names(lake, lake.snapshot_files("feature_lifecycles"))}
    con = duck.connect()
    try:
        inputs.register(con, lake)
        through = _continued_from(con, lake, previous, replayed) if previous is not None else None
        if through is None:
            _empty_before(con)
        _incarnations(con)
        if through is not None and not _continues(con, through):
            inputs.register(con, lake)  # the whole lake again
            _empty_before(con)
            _incarnations(con)
            through = None
        _write(con, lake, folder, previous if through is not None else None, replayed, through)
    finally:
        con.close()


def _continued_from(con: duckdb.DuckDBPyConnection, lake: Lake, previous: Path, replayed: dict) -> str | None:
    """Set ``con`` up to continue ``previous``: ``events`` and ``feature_lifecycles`` only the files
    landed since (with the events the small histories replay), the state before from it. Returns
    the latest instant ``previous`` replayed, or None (nothing set up) where a file it replayed is
    gone or a new event is not after that instant."""
    if not is_prepared(previous):
        return None
    before = json.loads((previous / MANIFEST).read_text(encoding="utf-8"))
    if any(not set(before[kind]) <= set(names) for kind, names in replayed.items()):
        return None
    new = {kind: [str(lake.root / n) for n in names if n not in set(before[kind])] for kind, names in replayed.items()}
    through = before["through"]
    if new["events"] and con.execute("SELECT min(created_at) <= $through::TIMESTAMPTZ FROM read_parquet($files)",
                                     {"through": through, "files": new["events"]}).fetchall()[0][0]:
        return None
    con.read_parquet([*new["events"], str(previous / "history_events.parquet")], union_by_name=True
                     ).create_view("events", replace=True)
    lifecycles = (con.read_parquet(new["lifecycles"], union_by_name=True) if new["lifecycles"]
                  else con.from_arrow(lake.empty_table("feature_lifecycles")))
    lifecycles.create_view("feature_lifecycles", replace=True)
    _empty_before(con)
    for history, table in (("flag_incarnations", "flag_incarnations_before"),
                           ("flag_history", "flag_history_open_before"),
                           ("environment_enablement", "environment_enablement_open_before"),
                           ("flag_live", "flag_live_before")):
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet($file)",
                    {"file": str(previous / f"{history}.parquet")})
    return through


def _continues(con: duckdb.DuckDBPyConnection, through: str) -> bool:
    """Whether continuing gives what a full replay gives: every incarnation before keeps its first
    state (an incarnation without one keeps none), and none of the new ones starts by ``through``."""
    differs = " OR ".join(f"b.{column} IS DISTINCT FROM n.{column}" for column in FIRST_STATE)
    rewritten, early = con.execute(f"""
        SELECT
            (SELECT count(*) FROM flag_incarnations_before AS b
             LEFT JOIN flag_incarnations AS n ON n.flag = b.flag AND n.incarnation = b.incarnation
             WHERE (b.created_at IS NOT NULL AND (n.flag IS NULL OR {differs}))
                OR (b.created_at IS NULL AND n.created_at IS NOT NULL)),
            (SELECT count(*) FROM flag_incarnations AS n
             ANTI JOIN flag_incarnations_before AS b ON b.flag = n.flag AND b.incarnation = n.incarnation
             WHERE n.created_at <= $through::TIMESTAMPTZ)""", {"through": through}).fetchall()[0]
    return rewritten == 0 and early == 0


def _write(con: duckdb.DuckDBPyConnection, lake: Lake, folder: Path, previous: Path | None, replayed: dict,
           through: str | None) -> None:
    """Compute each history from what ``con`` holds (the state before, empty for a full replay) and
    write it, then the state, then the manifest."""
    changed = None  # the latest change among the rows computed now (the rows kept before are older)
    for history in HISTORIES:
        table = con.sql(queries.load(_query(con, lake, history))).to_arrow_table()
        if history in CLOSED:
            con.register("computed", table)
            latest = con.sql(f"SELECT * FROM computed WHERE {CLOSED[history]}").to_arrow_table()
            closed = con.sql(f"SELECT * FROM computed WHERE NOT ({CLOSED[history]})").to_arrow_table()
            if history == "flag_history":
                [(changed,)] = con.sql("SELECT max(changed_at) FILTER (WHERE changed_at < 'infinity') FROM computed"
                                       ).fetchall()
            con.unregister("computed")
            files.write_parquet(lake.data_dir, folder / f"{history}.parquet", latest)
            _write_parts(lake, folder, previous, history, closed)
            if history == "environment_enablement" and not lake.has_rows("feature_lifecycles"):
                con.read_parquet(paths(folder, history)).to_table(history)  # flag_live from the metrics reads every span
        else:
            files.write_parquet(lake.data_dir, folder / f"{history}.parquet", table)
    files.write_parquet(lake.data_dir, folder / "flag_incarnations.parquet",
                        con.table("flag_incarnations").to_arrow_table())
    files.write_parquet(lake.data_dir, folder / "history_events.parquet",
                        con.sql(f"SELECT * FROM events WHERE {HISTORY_EVENTS}").to_arrow_table())
    [(latest,)] = con.execute("SELECT greatest($changed::TIMESTAMPTZ, (SELECT max(created_at) FROM events), "
                              "$through::TIMESTAMPTZ)", {"changed": changed, "through": through or "-infinity"}
                              ).fetchall()
    files.write_json(lake.data_dir, folder / MANIFEST,
                     {**replayed, "through": latest.isoformat(), "continued": previous is not None})
    log.info("histories of generation %d %s", lake.generation,
             f"continued from {previous.name}" if previous is not None else "replayed in full")


def _write_parts(lake: Lake, folder: Path, previous: Path | None, history: str, closed: pa.Table) -> None:
    """The closed parts of ``previous``, linked, and ``closed`` as one more; the newest two merged
    while the older holds no more rows than the newer, as a binary counter carries."""
    parts = []
    for part in _parts(previous, history) if previous is not None else []:
        os.link(part, folder / part.name)
        parts.append(folder / part.name)
    if closed.num_rows:
        generation = f"{lake.generation:06d}"
        parts.append(folder / f"{history}.closed-{generation if previous else '000000'}-{generation}.parquet")
        files.write_parquet(lake.data_dir, parts[-1], closed)
    while len(parts) >= 2 and _rows(parts[-2]) <= _rows(parts[-1]):
        older, newer = parts.pop(-2), parts.pop()
        merged = folder / f"{history}.closed-{older.name.split('-')[1]}-{newer.name.split('-')[2]}"
        files.write_parquet(lake.data_dir, merged, pq.read_table([older, newer]))
        older.unlink()
        newer.unlink()
        parts.append(merged)


def _parts(folder: Path, history: str) -> list[Path]:
    return sorted(folder.glob(f"{history}.closed-*.parquet"))


def _rows(part: Path) -> int:
    return pq.ParquetFile(part).metadata.num_rows


def _names(lake: Lake, paths_: list[str]) -> list[str]:
    return [str(Path(path).relative_to(lake.root)) for path in paths_]


def _empty_before(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in _BEFORE.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({columns})")


def _incarnations(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TEMP VIEW flag_events AS {queries.load('flag_events')}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE flag_incarnations AS {queries.load('flag_incarnations')}")


def _query(con: duckdb.DuckDBPyConnection, lake: Lake, history: str) -> str:
    """The query of a history: ``flag_live`` from the metrics for an Unleash that records no
    lifecycle stages (every metrics row read, each time)."""
    if history != "flag_live" or lake.has_rows("feature_lifecycles"):
        return history
    inputs.register_metrics(con, lake)
    con.execute(f"CREATE OR REPLACE TEMP VIEW client_metrics_history AS {queries.load('client_metrics_history')}")
    return "flag_live_from_metrics"
