"""The job's steps: idempotent runs, incremental rebuilds, backfills and exports."""

import datetime as dt
import hashlib
import json

import pyarrow.parquet as pq

from pipeline import document, job
from pipeline.sources.sample import SampleSource
from pipeline.trends import DATASETS
from pipeline.warehouse import SCHEMAS, Warehouse
from tests.instance import Instance

AS_OF = dt.date(2024, 3, 10)


def run(data_dir, as_of: dt.date, source=None) -> None:
    """What the run flow does, without Prefect."""
    job.land(data_dir, source or SampleSource(as_of))
    job.build(data_dir, job.plan_run(data_dir, as_of))
    first, last = dt.date(2024, 2, 10), as_of
    document.write(data_dir, data_dir / "documents" / "insights.json", job.export(data_dir, first, last))


def output_bytes(data_dir) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in ("warehouse", "documents", "lake") for p in sorted((data_dir / folder).rglob("*")) if p.is_file()
    }


def test_running_twice_with_the_same_inputs_leaves_the_same_bytes(tmp_path):
    run(tmp_path, AS_OF)
    first = output_bytes(tmp_path)
    run(tmp_path, AS_OF)
    assert output_bytes(tmp_path) == first
    assert any(name.startswith("warehouse/project_flag_trends/week=2024-10") for name in first)


def test_a_run_builds_every_partition_from_the_lakes_first_day(tmp_path):
    run(tmp_path, AS_OF)
    records = sorted(p.stem for p in (tmp_path / "state" / "partitions").iterdir())
    months, weeks = [r for r in records if r.startswith("days=")], [r for r in records if r.startswith("week=")]
    assert months == ["days=2024-01", "days=2024-02", "days=2024-03"]  # a month's days share a record file
    days = [d for m in months for d in json.loads((tmp_path / "state" / "partitions" / f"{m}.json").read_text())]
    assert (days[0], days[-1], len(days)) == ("2024-01-01", "2024-03-10", 70)
    assert (weeks[0], weeks[-1], len(weeks)) == ("week=2024-01", "week=2024-10", 10)
    assert Warehouse(tmp_path).latest_week_snapshot() == AS_OF


def test_every_warehouse_file_names_its_build(tmp_path):
    run(tmp_path, AS_OF)
    path = tmp_path / "warehouse" / "project_flag_trends" / "week=2024-09" / "part-0.parquet"
    metadata = pq.read_schema(path).metadata
    build = json.loads(metadata[b"insights.build"])
    assert build["partition"] == "week=2024-09" and build["snapshot_at"] == "2024-03-03T23:59:59.999000+00:00"
    assert metadata[b"insights.run"].decode() == f"build-g{build['input_generation']}-{build['code_version']}"
    # a daily trend's month file: its days, a row and a build each
    path = tmp_path / "warehouse" / "flag_trends" / "month=2024-03" / "part-0.parquet"
    stored = pq.read_table(path)
    build = json.loads(stored.schema.metadata[b"insights.build"])
    assert build["partition"] == "month=2024-03" and list(build["days"]) == [f"2024-03-{d:02d}" for d in range(1, 11)]
    assert [d.day for d in stored["day"].to_pylist()] == list(range(1, 11))
    assert build["days"]["2024-03-01"]["snapshot_at"] == "2024-03-01T23:59:59.999000+00:00"
    newest = max(b["input_generation"] for b in build["days"].values())
    assert stored.schema.metadata[b"insights.run"].decode() == f"build-g{newest}-{build['days']['2024-03-01']['code_version']}"


def test_every_warehouse_file_reads_back_with_its_datasets_columns_and_its_build(tmp_path):
    # the usage is written with its strings dictionary-encoded: a reader still sees plain strings
    run(tmp_path, AS_OF)
    for dataset, schema in SCHEMAS.items():
        path = next((tmp_path / "warehouse" / dataset).rglob("part-0.parquet"))
        stored = pq.read_schema(path)
        assert stored.remove_metadata().equals(schema), dataset
        assert json.loads(stored.metadata[b"insights.build"])["partition"].split("=")[0] in ("week", "month", "flags")


def day_instance() -> Instance:
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.user(1, "2025-01-01T09:00")
    return u


def test_new_data_rebuilds_only_the_partitions_it_can_change(tmp_path):
    u = day_instance()
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 19)))
    u.stale("a", "2025-01-15T10:00")
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    stale = job.plan_run(tmp_path, dt.date(2025, 1, 19))
    # the days and the week from the stale event on; its month's usage, rewritten whole; the flags table
    assert sorted(p.key for p in stale) == ["2025-01", "2025-01-15", "2025-01-16", "2025-01-17", "2025-01-18",
                                            "2025-01-19", "2025-03", "latest"]


def test_a_later_date_rebuilds_the_current_week_and_adds_the_new_days(tmp_path):
    u = day_instance()
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 14)))
    assert sorted(p.key for p in job.plan_run(tmp_path, dt.date(2025, 1, 15))) == ["2025-01", "2025-01-15", "2025-03",
                                                                                  "latest"]


def test_a_backfill_gives_the_bytes_of_partitions_built_one_day_at_a_time(tmp_path):
    u = day_instance()
    u.stale("a", "2025-01-08T10:00")
    for data_dir in (tmp_path / "daily", tmp_path / "backfill"):
        u.land(data_dir)
    for offset in range(10):
        as_of = dt.date(2025, 1, 6) + dt.timedelta(days=offset)
        job.build(tmp_path / "daily", job.plan_run(tmp_path / "daily", as_of))
    job.build(tmp_path / "backfill", job.plan_backfill(tmp_path / "backfill", dt.date(2024, 12, 2), dt.date(2025, 1, 15)))
    daily, backfill = output_bytes(tmp_path / "daily"), output_bytes(tmp_path / "backfill")
    as_of_a_day = tuple(f"warehouse/{d.name}/" for d in DATASETS.values() if d.grain == "flags")  # a run's date
    kept = lambda path: path.startswith("warehouse") and not path.startswith(as_of_a_day)  # noqa: E731
    assert {k: v for k, v in daily.items() if kept(k)} == {k: v for k, v in backfill.items() if kept(k)}
    assert "warehouse/flag_usage_daily/month=2025-01/part-0.parquet" in backfill  # the backfill wrote usage too
    assert "warehouse/flags/part-0.parquet" in daily and "warehouse/flags/part-0.parquet" not in backfill
    assert "warehouse/flag_lifecycle/part-0.parquet" in daily and "warehouse/flag_lifecycle/part-0.parquet" not in backfill


def test_a_daily_trends_day_folders_and_records_written_before_month_files_go_when_their_month_is_committed(tmp_path):
    u = day_instance()
    u.land(tmp_path)
    legacy = [tmp_path / "warehouse" / t / f"day={d}" / "part-0.parquet" for t in ("user_trends", "flag_trends")
              for d in ("2025-01-10", "2019-06-30")]
    for path in legacy:  # as code before month files left them, and the day's record
        path.parent.mkdir(parents=True)
        path.write_bytes(b"a day's rows")
    (tmp_path / "state" / "partitions").mkdir(parents=True)
    (tmp_path / "state" / "partitions" / "day=2025-01-10.json").write_text(json.dumps(
        {"snapshot_day": "2025-01-10", "input_generation": 1, "code_version": "older", "rows": {}}))
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 19)))
    assert [p.exists() for p in legacy] == [False, True, False, True]  # no month file of 2019-06: left alone
    records = tmp_path / "state" / "partitions"
    assert (records / "days=2025-01.json").exists() and not (records / "day=2025-01-10.json").exists()
    assert (tmp_path / "warehouse" / "user_trends" / "month=2025-01" / "part-0.parquet").exists()


def test_export_of_a_range_ending_mid_week_shows_the_stored_week_as_of_its_sunday(tmp_path):
    u = day_instance()
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 19)))
    week = tmp_path / "warehouse" / "project_flag_trends" / "week=2025-03" / "part-0.parquet"
    before = week.read_bytes()
    doc = job.export(tmp_path, dt.date(2025, 1, 13), dt.date(2025, 1, 15))  # Monday to Wednesday of 2025-03
    assert {r["date"] for r in doc["projectFlagTrends"]} == {"2025-01-19T23:59:59.999Z"}  # its Sunday (SPEC §3)
    assert [r["date"][:10] for r in doc["flagTrends"]] == ["2025-01-13", "2025-01-14", "2025-01-15"]
    assert week.read_bytes() == before


def test_the_sample_run_gives_seven_non_empty_arrays(tmp_path):
    run(tmp_path, AS_OF)
    doc = json.loads((tmp_path / "documents" / "insights.json").read_text())
    assert all(doc[array] for array in doc), {k: len(v) for k, v in doc.items()}


def test_an_export_source_lands_what_the_sample_wrote(tmp_path):
    from pipeline.sources.export_dir import ExportDirSource

    job.land(tmp_path / "exported", SampleSource(AS_OF))
    job.land(tmp_path / "copy", ExportDirSource(tmp_path / "exported"))
    def data_files(data_dir):  # the state differs only in naming its source
        return {k: v for k, v in output_bytes(data_dir).items() if k != "lake/_state.json"}

    assert data_files(tmp_path / "copy") == data_files(tmp_path / "exported")


def test_a_backfill_builds_a_month_a_task_each_week_in_the_month_of_its_thursday():
    partitions = job.partitions_between(dt.date(2024, 12, 20), dt.date(2025, 2, 3), dt.date(2025, 2, 3), flag_usage=True)
    months = job.backfill_months(partitions)
    assert {month: sorted(p.key for p in of if p.grain != "day") for month, of in months.items()} == {
        "2024-12": ["2024-12", "2024-51", "2024-52"],  # week 52: Monday 23rd, Thursday 26th
        "2025-01": ["2025-01", "2025-01", "2025-02", "2025-03", "2025-04", "2025-05"],  # week 1's Thursday: Jan 2nd
        "2025-02": ["2025-02", "2025-06"],
    }
    assert [sum(p.grain == "day" for p in of) for of in months.values()] == [12, 31, 3]
    assert sorted(p for of in months.values() for p in of) == sorted(partitions)


def test_a_backfill_task_holds_as_many_months_as_hold_its_metrics_rows(tmp_path):
    """Months share a task while their rolled-up rows (one per day, flag, app and environment) fit."""
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2024-12-20T09:00")
    u.metrics("a", "web", "production", "2025-01-05T10:00", yes=5, no=0)
    u.metrics("a", "web", "production", "2025-01-05T11:00", yes=1, no=1)  # the same day's row
    u.metrics("a", "ios", "production", "2025-01-05T10:00", yes=2, no=0)
    u.metrics("a", "web", "production", "2025-01-06T10:00", yes=1, no=0)  # January: 3 rows
    u.metrics("a", "web", "production", "2025-02-03T10:00", yes=1, no=0)  # February: 1 row
    u.land(tmp_path, extracted_at="2025-02-03T23:00")
    partitions = job.partitions_between(dt.date(2024, 12, 20), dt.date(2025, 2, 3), dt.date(2025, 2, 3), flag_usage=True)
    months = job.backfill_months(partitions)
    assert {span: len(of) for span, of in job.backfill_tasks(tmp_path, partitions).items()} == {
        "2024-12..2025-02": len(partitions)}
    assert job.backfill_tasks(tmp_path, partitions, most_rows=3) == {
        "2024-12..2025-01": months["2024-12"] + months["2025-01"], "2025-02": months["2025-02"]}
    assert job.backfill_tasks(tmp_path, partitions, most_rows=2) == months  # January alone is more than 2


def test_a_build_of_many_months_holds_a_run_of_them_at_a_time_and_writes_the_same_bytes(tmp_path, monkeypatch):
    """A first run builds 2024-01-01..03-10: three months. In runs of one month each (then the flags
    table, reading the usage the runs staged) it writes what one pass over the three writes."""
    whole, by_month = tmp_path / "whole", tmp_path / "by_month"
    run(whole, AS_OF)
    computed = []
    compute, tasks = job._compute, job.backfill_tasks
    monkeypatch.setattr(job, "_compute", lambda lake, span, *rest: computed.append(span) or compute(lake, span, *rest))
    monkeypatch.setattr(job, "backfill_tasks", lambda data_dir, partitions: tasks(data_dir, partitions, most_rows=1))
    run(by_month, AS_OF)
    # (the export that follows computes nothing: it reads stored partitions only)
    assert [sorted({p.grain for p in span}) for span in computed] == [["day", "month", "week"]] * 3 + [["flags"]]
    assert [min(p.key for p in span if p.grain == "day") for span in computed[:3]] == [
        "2024-01-01", "2024-02-01", "2024-03-01"]
    warehouse = {name: digest for name, digest in output_bytes(whole).items() if not name.startswith("lake/")}
    assert {name: digest for name, digest in output_bytes(by_month).items() if not name.startswith("lake/")} == warehouse
    assert any(name.startswith("warehouse/flags/") for name in warehouse)
