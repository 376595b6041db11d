"""The shared histories continued from one landing to the next are the histories a full replay of
the lake gives, whatever the landings hold (issue #19: a daily run replays only what is new)."""

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import duck, job
from pipeline.lake import Lake
from pipeline.trends import histories, inputs
from tests.instance import Instance

START = dt.datetime(2025, 3, 3, 9, 0)
FLAGS = ("a", "b", "c")
OPERATIONS = ("create", "enable", "disable", "stale", "unstale", "archive", "revive", "delete", "retype", "move",
              "lifetime", "live", "old flag", "archive project")


def _rows(con, tables: dict) -> dict:
    """Each table's rows as text, in order ('infinity' is no Python datetime)."""
    return {name: con.from_arrow(table).select("COLUMNS(*)::VARCHAR").order("ALL").fetchall()
            for name, table in tables.items()}


def replayed(data_dir: Path) -> dict:
    """Every history, replayed in full from the lake."""
    con = duck.connect()
    try:
        inputs.register(con, Lake(data_dir))
        histories.replay(con, Lake(data_dir))
        return _rows(con, {h: con.table(h).to_arrow_table() for h in histories.HISTORIES})
    finally:
        con.close()


def kept(folder: Path) -> dict:
    con = duck.connect()
    try:
        return _rows(con, {h: pq.read_table(histories.paths(folder, h)) for h in histories.HISTORIES})
    finally:
        con.close()


def manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / histories.MANIFEST).read_text())


def apply(u: Instance, operation: str, flag: str, when: dt.datetime) -> None:
    """One change to the instance at ``when``, where it makes sense for the flag as it stands."""
    text = when.isoformat(timespec="seconds")
    exists = flag in u.flags
    if operation == "create" and not exists:
        u.flag(flag, "p", text, type_="experiment" if flag == "b" else "release")
    elif operation == "old flag" and not exists:  # known only from the snapshot: older than the event log
        u.flags[flag] = {"name": flag, "project": "p", "type": "release", "stale": False,
                         "created_at": when - dt.timedelta(days=400), "archived_at": None}
    elif operation in ("enable", "disable") and exists:
        u.enable(flag, "production", text, on=operation == "enable")
    elif operation in ("stale", "unstale") and exists:
        u.stale(flag, text, on=operation == "stale")
    elif operation == "archive" and exists and u.flags[flag]["archived_at"] is None:
        u.archive(flag, text)
    elif operation == "revive" and exists and u.flags[flag]["archived_at"] is not None:
        u.revive(flag, text)
    elif operation == "delete" and exists:
        u.delete(flag, text)
    elif operation == "retype" and exists:
        u.update_metadata(flag, text, type_="operational")
    elif operation == "move" and exists:
        u.move(flag, text, "q" if u.flags[flag]["project"] == "p" else "p")
    elif operation == "lifetime":
        u.change_lifetime("release", text, 30 if u.lifetimes["release"] == 40 else 40)
    elif operation == "live" and exists:
        u.lifecycle(flag, "live", text)
    elif operation == "archive project" and "q" in u.projects and u.projects["q"]["archived_at"] is None:
        u.archive_project("q", text)


steps = st.lists(st.tuples(st.sampled_from(OPERATIONS), st.sampled_from(FLAGS), st.integers(1, 30),
                           st.booleans(), st.integers(0, 3)), min_size=1, max_size=30)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_histories_continued_landing_by_landing_are_the_full_replays(tmp_path_factory, steps):
    """Random changes landed in several landings, some late (before the last landing's instant):
    after each, the kept histories are the full replay's, continued wherever that is exact."""
    data_dir = tmp_path_factory.mktemp("lake")
    u = Instance()
    u.project("p", "2025-01-01T00:00")
    u.project("q", "2025-01-01T00:00")
    when, landed = START, START
    for operation, flag, hours, lands, late in steps:
        when += dt.timedelta(hours=hours)
        apply(u, operation, flag, when if late != 3 else landed - dt.timedelta(hours=hours))
        if lands:
            u.land(data_dir, extracted_at=when.isoformat(timespec="seconds"))
            landed = when
            folder = Path(job.prepare(data_dir))
            assert kept(folder) == replayed(data_dir)
    u.land(data_dir, extracted_at=(when + dt.timedelta(hours=1)).isoformat(timespec="seconds"))
    folder = Path(job.prepare(data_dir))
    assert kept(folder) == replayed(data_dir)


def test_a_day_of_new_events_continues_the_histories_and_their_files_stay_few(tmp_path):
    """Sixty daily landings of ordinary changes: each continues from the one before (nothing
    replayed again), and the histories' closed rows sit in a few files, not sixty."""
    u = Instance()
    u.project("p", "2025-01-01T00:00")
    day = dt.datetime(2025, 1, 6, 9, 0)
    u.flag("a", "p", "2025-01-02T09:00")
    u.lifecycle("a", "live", "2025-01-02T10:00")
    u.land(tmp_path, extracted_at="2025-01-05T23:00")
    assert not manifest(job.prepare(tmp_path))["continued"]
    for n in range(60):
        u.enable("a", "production", (day + dt.timedelta(days=n)).isoformat(), on=n % 2 == 0)
        if n % 7 == 0:
            u.flag(f"f{n}", "p", (day + dt.timedelta(days=n, hours=1)).isoformat())
            u.stale(f"f{n}", (day + dt.timedelta(days=n, hours=2)).isoformat())
        u.land(tmp_path, extracted_at=(day + dt.timedelta(days=n, hours=12)).isoformat())
        folder = Path(job.prepare(tmp_path))
        assert manifest(folder)["continued"], n
    assert kept(folder) == replayed(tmp_path)
    # 60 days of closed rows: a binary counter's parts, 60 = 0b111100 at most, plus the base
    for history in histories.CLOSED:
        assert 1 <= len(histories.paths(folder, history)) - 1 <= 6, history
    assert [f.name for f in folder.parent.iterdir()] == [folder.name]  # the folder before is gone
