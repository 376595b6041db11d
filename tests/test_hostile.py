"""Malformed and hostile input, data-quality checks, the run lock and bad data directories."""

import datetime as dt
import json
import threading
from contextlib import contextmanager
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import checks, document, job
from pipeline.checks import QualityCheckFailed
from pipeline.entities import ENTITIES
from pipeline.lake import Lake
from pipeline.lock import DataDirBusy, DataDirUnusable, exclusive, usable_data_dir
from pipeline.sources.base import TableSession
from pipeline.warehouse import SCHEMAS
from tests.instance import Instance, at, by, day


def with_rows(tables: dict, entity: str, *rows: dict) -> dict:
    schema = ENTITIES[entity].schema
    extra = pa.table({c: [r.get(c) for r in rows] for c in schema.names}, schema=schema)
    return {**tables, entity: pa.concat_tables([tables[entity], extra])}


def hostile_tables() -> dict:
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.metrics("a", "web", "production", "2025-01-07T10:00", yes=10, no=0)
    u.metrics("a", "web", "mars", "2025-01-07T11:00", yes=1, no=1)  # an unknown environment still counts
    tables = u.tables()
    tables = with_rows(
        tables, "events",
        {"id": 100, "created_at": None, "type": "feature-created", "feature_name": "x"},
        {"id": 101, "created_at": at("1970-01-01T00:00"), "type": "feature-created", "feature_name": "y"},
        {"id": 102, "created_at": at("2100-01-01T00:00"), "type": "feature-created", "feature_name": "z"},
        {"id": 103, "created_at": at("2025-01-08T10:00"), "type": "feature-archived", "feature_name": None},
        {"id": 104, "created_at": at("2025-01-08T11:00"), "type": "brand-new-event-type", "feature_name": "a"},
        {"id": 105, "created_at": at("2025-01-08T12:00"), "type": "feature-stale-on", "feature_name": "a",
         "project": "p"},
        {"id": 105, "created_at": at("2025-01-09T12:00"), "type": "feature-archived", "feature_name": "a"},
    )
    tables = with_rows(tables, "features", {"name": "orphan", "project": None, "type": "release", "stale": False,
                                            "created_at": at("2025-01-06T10:00")})
    tables = with_rows(
        tables, "client_metrics",
        {"feature_name": "a", "app_name": "web", "environment": "production", "timestamp": at("2025-01-07T12:00"),
         "yes": -5, "no": 1},
        {"feature_name": "ghost", "app_name": "web", "environment": "production", "timestamp": at("2025-01-07T12:00"),
         "yes": 5, "no": 1},
    )
    return tables


def land(tables: dict, data_dir, when: str = "2026-01-01T00:00"):
    return Lake(data_dir).land(TableSession(tables, at(when)), "hostile")


def test_malformed_rows_are_set_aside_with_their_reason_and_counted(tmp_path):
    landing = land(hostile_tables(), tmp_path)
    assert landing.quarantined == {
        "events": {"null id or created_at or type": 1, "created_at out of range": 2,
                   "flag event without a flag name": 1},
        "features": {"flag without a project": 1},
        "client_metrics": {"negative count": 1, "unknown flag": 1},
    }
    lake = Lake(tmp_path)
    assert lake.landings[-1]["quarantined"] == landing.quarantined
    rows = pq.read_table(tmp_path / "lake" / "_quarantine" / "client_metrics" / "g000001.parquet").to_pylist()
    assert {r["reason"] for r in rows} == {"negative count", "unknown flag"}
    assert json.loads(next(r["row"] for r in rows if r["reason"] == "unknown flag"))["feature_name"] == "ghost"


def test_the_rest_of_a_hostile_landing_counts_by_the_spec(tmp_path):
    land(hostile_tables(), tmp_path)
    doc = job.export(tmp_path, dt.date(2025, 1, 6), dt.date(2025, 1, 12))
    document.validate(doc)
    # the duplicate id 105 lands once (the first: stale on); the unknown event type changes nothing
    assert [(r["total"], r["stale"]) for r in doc["flagTrends"]][1:4] == [(1, 0), (1, 1), (1, 1)]
    week = by(doc["metricsSummaryTrends"], "week")["2025-02"]
    assert (week["totalYes"], week["totalNo"], week["totalEnvironments"]) == (11, 1, 2)


def test_landing_the_same_hostile_rows_again_sets_nothing_aside_twice(tmp_path):
    land(hostile_tables(), tmp_path)
    again = land(hostile_tables(), tmp_path, "2026-01-02T00:00")
    assert not again.changed and Lake(tmp_path).generation == 1


def test_odd_names_stay_data_and_never_become_paths(tmp_path):
    odd = ["../../etc/passwd", 'quote"and\'apostrophe', "ünïcødé-фича-機能", "x" * 5000, "semi;colon --", "a/b\\c"]
    u = Instance()
    u.project(odd[0])
    for n, name in enumerate(odd):
        u.flag(name, odd[0], f"2025-01-06T1{n}:00")
    outside = tmp_path.parent / "etc"
    doc = u.insights(tmp_path / "data", "2025-01-06", "2025-01-12")
    document.validate(doc)
    assert by(doc["projectFlagTrends"], "project")[odd[0]]["total"] == len(odd)
    assert not outside.exists()
    written = [p.relative_to(tmp_path / "data") for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert all(part.startswith(("month=", "week=")) for p in written if p.parts[0] == "warehouse" for part in p.parts[2:3])


def test_a_failed_check_blocks_the_write(tmp_path, monkeypatch):
    from pipeline import trends

    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.land(tmp_path)
    compute = trends.compute

    def broken(*args, **kwargs):
        tables = compute(*args, **kwargs)
        flags = tables["flag_trends"].to_pylist()
        flags[0]["active"] += 1
        return {**tables, "flag_trends": pa.Table.from_pylist(flags, schema=tables["flag_trends"].schema)}

    monkeypatch.setattr(trends, "compute", broken)
    with pytest.raises(QualityCheckFailed, match="flag_counts_add_up"):
        job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 7)))
    assert not (tmp_path / "warehouse").exists()


def empty_trends(**rows) -> dict:
    return {name: pa.Table.from_pylist(rows.get(name, []), schema=schema) for name, schema in SCHEMAS.items()}


@pytest.mark.parametrize(
    ("check", "trend", "row"),
    [
        ("users_add_up", "user_trends", {"day": dt.date(2025, 1, 1), "total": 3, "active": 2, "inactive": 2}),
        ("requests_add_up", "metrics_summary_trends",
         {"week": "2025-01", "project": "p", "total_requests": 5, "total_yes": 3, "total_no": 1, "total_apps": 1,
          "total_flags": 1, "total_environments": 1}),
        ("counts_in_range", "creation_archive_trends",
         {"week": "2025-01", "project": "p", "created_flags": [], "archived_flags": 0}),
        ("counts_in_range", "project_flag_trends",
         {"week": "2025-01", "project": "p", "total": 0, "active": 0, "stale": 0, "potentially_stale": 0,
          "health": 101, "technical_debt": -1, "time_to_production": 0.0, "users": 0}),
        ("usage_counts_in_range", "flag_usage_daily",
         {"month": "2025-01", "day": dt.date(2025, 1, 2), "flag": "a", "environment": "production", "app_name": "web",
          "yes": 3, "no": -4}),
        ("usage_counts_in_range", "flags",
         {"as_of": dt.date(2025, 1, 2), "flag": "a", "incarnation": 1, "evaluations_7d": 5, "evaluations_30d": 4,
          "evaluations_90d": 9}),
    ],
)
def test_each_check_returns_the_offending_rows(check, trend, row):
    results = {r.name: r for r in checks.run(empty_trends(**{trend: [row]}))}
    assert results[check].offending == 1
    assert sum(r.offending for r in results.values()) == 1


def test_a_usage_key_twice_is_an_offence():
    row = {"month": "2025-01", "day": dt.date(2025, 1, 2), "flag": "a", "environment": "production", "app_name": "web",
           "yes": 1, "no": 0}
    results = {r.name: r.offending for r in checks.run(empty_trends(flag_usage_daily=[row, row]))}
    assert results["one_row_per_key"] == 1 and sum(results.values()) == 1
    no_app, other_app = {**row, "app_name": None}, {**row, "app_name": "api"}
    results = {r.name: r.offending for r in checks.run(empty_trends(flag_usage_daily=[row, no_app, no_app, other_app]))}
    assert results["one_row_per_key"] == 1  # the app-less key twice; the others once each
    results = {r.name: r.offending for r in checks.run(empty_trends(flag_usage_daily=[row, no_app, other_app]))}
    assert results["one_row_per_key"] == 0


@pytest.mark.parametrize(("usage", "days", "offending"), [
    ({"yes": 3, "no": 2}, 7, 0),  # the week's usage adds up to its metrics row
    ({"yes": 3, "no": 1}, 7, 1),  # one evaluation short
    ({"yes": 3, "no": 1}, 6, 0),  # a day of the week was not built with it: the week is not compared
])
def test_usage_must_add_up_to_each_weeks_metrics_summary(usage, days, offending):
    metrics = {"week": "2025-02", "date": dt.datetime(2025, 1, 12, 23, 59, 59, 999000, tzinfo=dt.timezone.utc),
               "project": "p", "total_requests": 5, "total_yes": 3, "total_no": 2, "total_apps": 1, "total_flags": 1,
               "total_environments": 1}
    results = {r.name: r.offending for r in checks.run({
        **empty_trends(metrics_summary_trends=[metrics]),
        "week_project_usage": pa.Table.from_pylist([{"week": "2025-02", "project": "p", **usage}],
                                                   schema=checks.INPUTS["week_project_usage"]),
        "built_usage_days": pa.table({"day": pa.array([dt.date(2025, 1, 6) + dt.timedelta(days=n) for n in range(days)],
                                                      pa.date32())}),
    })}
    assert results["usage_matches_metrics_summary"] == offending and sum(results.values()) == offending


@contextmanager
def held_by_another_run(data_dir, command: str) -> Iterator[None]:
    """The data directory's lock, held by another thread for as long as the block runs."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with exclusive(data_dir, command):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join()


def test_a_second_run_is_refused_with_the_holders_pid(tmp_path):
    with held_by_another_run(tmp_path, "run --date 2025-01-01"):
        with pytest.raises(DataDirBusy, match=r"in use by pid \d+ on .*`run --date 2025-01-01` started"):
            with exclusive(tmp_path, "run"):
                pass
    with exclusive(tmp_path, "run"):  # free again
        pass


def test_a_second_run_can_wait_for_the_first(tmp_path):
    started = threading.Event()

    def hold():
        with exclusive(tmp_path, "backfill"):
            started.set()
            threading.Event().wait(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait(10)
    with exclusive(tmp_path, "run", wait_seconds=10):
        assert not holder.is_alive()
    holder.join()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    import subprocess
    import sys

    code = ("import sys, time; from pathlib import Path; from pipeline.lock import exclusive\n"
            "with exclusive(Path(sys.argv[1]), 'run'):\n    print('held', flush=True); time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    (tmp_path / "_staging").mkdir(exist_ok=True)
    (tmp_path / "_staging" / "half-written.parquet").write_bytes(b"PAR1")
    process.kill()
    process.wait()
    with exclusive(tmp_path, "run"):
        assert not (tmp_path / "_staging").exists()


def test_a_data_directory_that_cannot_be_written_is_refused():
    with pytest.raises(DataDirUnusable, match="cannot use data directory /proc/insights-data"):
        usable_data_dir("/proc/insights-data")


def test_instance_helper_builds_what_the_tests_above_rely_on(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    assert day(u.insights(tmp_path, "2025-01-06", "2025-01-06"), "flagTrends", "2025-01-06")["total"] == 1


def test_a_partition_path_is_only_ever_a_day_or_a_week_under_the_warehouse(tmp_path):
    from pipeline.warehouse import Partition, Warehouse

    warehouse = Warehouse(tmp_path)
    assert warehouse.path("flag_trends", Partition("day", "2025-01-06", dt.date(2025, 1, 6))).is_relative_to(tmp_path)
    for key in ("../../etc", "2025-01-06/../../x", "2025-1"):
        with pytest.raises(ValueError, match="not a warehouse partition"):
            warehouse.path("flag_trends", Partition("day", key, dt.date(2025, 1, 6)))
    with pytest.raises(ValueError):
        warehouse.path("../outside", Partition("week", "2025-02", dt.date(2025, 1, 12)))
