"""A daily run after five years of history writes only its day's, week's and month's files and the
flag tables, and reads no warehouse file from before its 90-day usage window (issue #19)."""

import datetime as dt

import pyarrow.parquet as pq

from pipeline import calendar, job
from tests.instance import Instance

LAST = dt.date(2026, 6, 30)
NEXT = LAST + dt.timedelta(days=1)  # a Wednesday: week 2026-27 and month 2026-07


def five_years() -> Instance:
    u = Instance()
    u.project("p")
    u.flag("early", "p", "2021-07-01T10:00")
    u.enable("early", "production", "2021-07-02T10:00")
    u.flag("steady", "p", "2021-07-01T10:00", type_="permission")
    day = dt.date(2021, 7, 5)
    while day <= LAST:  # "steady" evaluated in production every 30 days
        u.metrics("steady", "web", "production", f"{day.isoformat()}T10:00", yes=1, no=0)
        day += dt.timedelta(days=30)
    u.metrics("early", "web", "production", "2021-08-01T10:00", yes=4, no=0)  # then never again
    return u


def files(data_dir) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(data_dir / "warehouse")): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in (data_dir / "warehouse").rglob("*.parquet")}


def test_a_daily_run_after_five_years_writes_its_own_files_and_reads_none_before_its_window(tmp_path):
    u = five_years()
    u.land(tmp_path, extracted_at="2026-06-30T23:00")
    job.build(tmp_path, job.plan_run(tmp_path, LAST))
    assert len([p for p in files(tmp_path) if p.startswith("flag_usage_daily/")]) == 60  # 2021-07 to 2026-06
    window = (NEXT - dt.timedelta(days=89)).replace(day=1)  # 2026-04-01: the usage window's months
    for path in (tmp_path / "warehouse").rglob("*=*/part-0.parquet"):
        grain, key = path.parent.name.split("=")
        last_day = {"day": lambda: dt.date.fromisoformat(key), "week": lambda: calendar.week_monday(key)
                    + dt.timedelta(days=6), "month": lambda: calendar.month_snapshot(key, dt.date.max).snapshot_day}[grain]()
        if last_day < window:
            path.write_bytes(b"not parquet: a run that read this file would fail")
    before = files(tmp_path)
    u.metrics("steady", "web", "production", "2026-07-01T10:00", yes=2, no=0)
    u.land(tmp_path, extracted_at="2026-07-01T23:00")
    job.build(tmp_path, job.plan_run(tmp_path, NEXT))
    first, last = calendar.default_range(NEXT)
    document = job.export(tmp_path, first, last)
    after = files(tmp_path)
    assert sorted(p for p in after if after[p] != before.get(p)) == sorted([
        "user_trends/month=2026-07/part-0.parquet", "flag_trends/month=2026-07/part-0.parquet",
        *(f"{t}/week=2026-27/part-0.parquet" for t in ("project_flag_trends", "metrics_summary_trends",
                                                       "environment_type_trends", "lifecycle_trends",
                                                       "creation_archive_trends")),
        "flag_usage_daily/month=2026-07/part-0.parquet", "flags/part-0.parquet", "flag_lifecycle/part-0.parquet",
            "unknown_flags/part-0.parquet"])
    flags = {row["flag"]: row for row in pq.read_table(tmp_path / "warehouse" / "flags" / "part-0.parquet").to_pylist()}
    # "early" was last evaluated five years ago: a day no file the run read holds
    assert (flags["early"]["last_evaluated_day"], flags["early"]["cleanup_reason"]) == (
        dt.date(2021, 8, 1), "potentially_stale")  # a release, long past its 40 days
    assert (flags["steady"]["last_evaluated_day"], flags["steady"]["evaluations_7d"]) == (NEXT, 2)
    assert [(row["date"][:10], row["total"]) for row in document["flagTrends"]][-1] == ("2026-07-01", 2)
