"""The flag-level datasets (SPEC §9): flag_usage_daily and flags, on tiny lakes worked out by hand."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import job
from pipeline.calendar import UTC
from tests.instance import Instance, at


def built(u: Instance, data_dir, as_of: str) -> None:
    u.land(data_dir)
    job.build(data_dir, job.plan_run(data_dir, dt.date.fromisoformat(as_of)))


def usage(data_dir, month: str) -> list[dict]:
    return pq.read_table(data_dir / "warehouse" / "flag_usage_daily" / f"month={month}" / "part-0.parquet").to_pylist()


def flags(data_dir) -> dict[tuple[str, int], dict]:
    return {(r["flag"], r["incarnation"]): r for r in pq.read_table(data_dir / "warehouse" / "flags" / "part-0.parquet").to_pylist()}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def usage_instance() -> Instance:
    u = Instance()
    u.project("p")
    u.project("q")
    u.flag("a", "p", "2025-01-02T10:00")
    u.metrics("a", "web", "production", "2025-01-06T10:00", yes=10, no=5)
    u.metrics("a", "web", "production", "2025-01-06T11:00", yes=2, no=1)
    u.daily_metrics("a", "web", "production", "2025-01-06", yes=999, no=999)  # the day has hours: ignored
    u.daily_metrics("a", "web", "production", "2025-01-07", yes=100, no=0)  # no hours that day: counted
    u.metrics("a", "web", "staging-eu", "2025-01-08T10:00", yes=3, no=0)  # an environment Unleash does not know
    u.metrics("a", "cli-tool", "development", "2025-01-08T09:00", yes=1, no=1)  # another app
    u.flag("b", "p", "2025-01-02T10:00", type_="experiment")
    u.metrics("b", "web", "production", "2025-01-09T10:00", yes=5, no=5)
    u.move("b", "2025-01-10T12:00", to="q")  # so b ends 2025-01-10 in q
    u.metrics("b", "web", "production", "2025-01-10T10:00", yes=7, no=7)
    return u


def test_usage_is_per_day_flag_environment_and_app_with_each_days_project(tmp_path):
    built(usage_instance(), tmp_path, "2025-01-12")
    rows = [{k: r[k] for k in ("day", "flag", "environment", "environment_type", "app_name", "project", "type", "yes", "no")}
            for r in usage(tmp_path, "2025-01")]
    assert rows == [
        # hourly rows win over the day's daily row, and are summed once
        {"day": day("2025-01-06"), "flag": "a", "environment": "production", "environment_type": "production",
         "app_name": "web", "project": "p", "type": "release", "yes": 12, "no": 6},
        # a day with only daily rows
        {"day": day("2025-01-07"), "flag": "a", "environment": "production", "environment_type": "production",
         "app_name": "web", "project": "p", "type": "release", "yes": 100, "no": 0},
        {"day": day("2025-01-08"), "flag": "a", "environment": "development", "environment_type": "development",
         "app_name": "cli-tool", "project": "p", "type": "release", "yes": 1, "no": 1},
        {"day": day("2025-01-08"), "flag": "a", "environment": "staging-eu", "environment_type": None,
         "app_name": "web", "project": "p", "type": "release", "yes": 3, "no": 0},
        # b moved to q at noon on 2025-01-10: the 9th stays in p, the 10th is q's
        {"day": day("2025-01-09"), "flag": "b", "environment": "production", "environment_type": "production",
         "app_name": "web", "project": "p", "type": "experiment", "yes": 5, "no": 5},
        {"day": day("2025-01-10"), "flag": "b", "environment": "production", "environment_type": "production",
         "app_name": "web", "project": "q", "type": "experiment", "yes": 7, "no": 7},
    ]
    assert {r["month"] for r in usage(tmp_path, "2025-01")} == {"2025-01"}


def test_a_daily_run_rewrites_only_its_months_usage_and_the_flags_table(tmp_path):
    u = usage_instance()
    built(u, tmp_path, "2025-01-31")
    u.metrics("a", "web", "production", "2025-02-03T10:00", yes=1, no=0)
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    planned = job.plan_run(tmp_path, dt.date(2025, 2, 3))
    assert sorted(p.key for p in planned if p.grain in ("month", "flags")) == ["2025-02", "latest"]


def test_the_flags_table_as_of_an_earlier_day_counts_no_later_usage(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-02T10:00")
    u.metrics("a", "web", "production", "2025-01-15T10:00", yes=2, no=1)
    u.metrics("a", "web", "production", "2025-01-25T10:00", yes=5, no=0)  # after the earlier day
    u.metrics("a", "web", "production", "2025-02-05T10:00", yes=7, no=0)  # in a month stored by the first run
    built(u, tmp_path, "2025-02-10")
    assert flags(tmp_path)["a", 1]["last_evaluated_day"] == day("2025-02-05")
    job.build(tmp_path, job.plan_run(tmp_path, day("2025-01-20")))
    row = flags(tmp_path)["a", 1]
    # as of the end of 2025-01-20 only the 15th counts: 3 evaluations, within 7, 30 and 90 days
    assert (row["as_of"], row["last_evaluated_day"], row["evaluations_7d"], row["evaluations_30d"]) == (
        day("2025-01-20"), day("2025-01-15"), 3, 3)


def test_a_flag_deleted_and_created_again_is_two_incarnations(tmp_path):
    u = Instance()
    u.project("p")
    u.project("q")
    u.flag("c", "p", "2025-01-02T10:00")
    u.enable("c", "production", "2025-01-03T10:00")
    u.metrics("c", "web", "production", "2025-01-06T10:00", yes=4, no=0)
    u.archive("c", "2025-01-07T10:00")
    u.delete("c", "2025-01-08T10:00")
    u.flag("c", "q", "2025-01-09T10:00", type_="experiment")
    u.metrics("c", "web", "production", "2025-01-10T10:00", yes=6, no=0)
    built(u, tmp_path, "2025-01-12")
    assert [(r["day"], r["project"], r["type"], r["yes"]) for r in usage(tmp_path, "2025-01")] == [
        (day("2025-01-06"), "p", "release", 4), (day("2025-01-10"), "q", "experiment", 6)]
    table = flags(tmp_path)
    assert set(table) == {("c", 1), ("c", 2)}
    first, second = table["c", 1], table["c", 2]
    assert {k: first[k] for k in ("project", "type", "archived_at", "deleted_at", "enabled_environments",
                                   "first_production_enabled_at", "last_evaluated_day", "evaluations_7d",
                                   "cleanup_reason")} == {
        "project": "p", "type": "release", "archived_at": at("2025-01-07T10:00"), "deleted_at": at("2025-01-08T10:00"),
        "enabled_environments": [], "first_production_enabled_at": at("2025-01-03T10:00"),
        "last_evaluated_day": day("2025-01-06"), "evaluations_7d": 4, "cleanup_reason": None}
    assert {k: second[k] for k in ("project", "type", "created_at", "archived_at", "deleted_at", "last_evaluated_day",
                                    "evaluations_7d", "cleanup_reason")} == {
        "project": "q", "type": "experiment", "created_at": at("2025-01-09T10:00"), "archived_at": None,
        "deleted_at": None, "last_evaluated_day": day("2025-01-10"), "evaluations_7d": 6, "cleanup_reason": None}


def test_each_cleanup_reason_in_its_order(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("stale-done", "p", "2025-01-01T10:00")  # stale, and its lifecycle completed: stale comes first
    u.stale("stale-done", "2025-02-01T10:00")
    u.lifecycle("stale-done", "completed", "2025-02-02T10:00")
    u.flag("old-done", "p", "2025-01-01T10:00")  # a release older than its 40 days, completed: potentially stale first
    u.lifecycle("old-done", "completed", "2025-02-02T10:00")
    u.flag("done-idle", "p", "2025-01-01T10:00", type_="kill-switch")  # completed and unused: completed first
    u.lifecycle("done-idle", "completed", "2025-03-01T10:00")
    u.flag("idle", "p", "2025-01-01T10:00", type_="kill-switch")  # never evaluated, 89 days old
    u.flag("quiet", "p", "2025-01-01T10:00", type_="kill-switch")  # last evaluated on 2025-02-15
    u.metrics("quiet", "web", "production", "2025-02-15T10:00", yes=2, no=0)
    u.flag("busy", "p", "2025-01-01T10:00", type_="kill-switch")  # evaluated 6 days ago
    u.enable("busy", "production", "2025-01-05T00:00")
    u.metrics("busy", "web", "production", "2025-03-25T10:00", yes=3, no=2)
    u.flag("young", "p", "2025-03-20T10:00", type_="kill-switch")  # never evaluated, but 11 days old
    u.flag("gone", "p", "2025-01-01T10:00")  # stale, but archived: no longer a candidate
    u.stale("gone", "2025-01-20T10:00")
    u.archive("gone", "2025-01-21T10:00")
    built(u, tmp_path, "2025-03-31")
    table = {flag: row for (flag, _), row in flags(tmp_path).items()}
    assert {flag: row["cleanup_reason"] for flag, row in table.items()} == {
        "stale-done": "stale", "old-done": "potentially_stale", "done-idle": "completed",
        "idle": "not_evaluated_30_days", "quiet": "not_evaluated_30_days", "busy": None, "young": None, "gone": None}
    assert {k: table["idle"][k] for k in ("last_evaluated_day", "evaluations_90d", "lifecycle_stage")} == {
        "last_evaluated_day": None, "evaluations_90d": 0, "lifecycle_stage": None}  # a flag never evaluated
    assert [table["quiet"][k] for k in ("last_evaluated_day", "last_evaluated_production_day", "evaluations_7d",
                                         "evaluations_30d", "evaluations_90d")] == [day("2025-02-15"), day("2025-02-15"), 0, 0, 2]
    assert [table["busy"][k] for k in ("evaluations_7d", "evaluations_30d", "enabled_environments")] == [5, 5, ["production"]]
    assert (table["done-idle"]["lifecycle_stage"], table["done-idle"]["lifecycle_stage_at"]) == (
        "completed", dt.datetime(2025, 3, 1, 10, tzinfo=UTC))
    assert {r["as_of"] for r in table.values()} == {day("2025-03-31")}


def test_on_the_sample_the_checks_hold_for_every_week(sample_warehouse):
    """The stored datasets of the sample (built through 2026-01-31) against every check, the usage
    one covering every week: each week's usage by project computed afresh, with every month's."""
    import pyarrow as pa

    from pipeline import calendar, checks, trends
    from pipeline.lake import Lake
    from pipeline.warehouse import SCHEMAS, month_partition, week_partition

    root = sample_warehouse / "warehouse"
    stored = {name: pq.read_table(root / name, schema=schema) for name, schema in SCHEMAS.items()}
    first, last = stored["user_trends"]["day"][0].as_py(), dt.date(2026, 1, 31)
    weeks = [week_partition(w, last).week for w in calendar.weeks_overlapping(first, last)]
    months = [month_partition(m, last).month for m in calendar.months_overlapping(first, last)]
    computed = trends.compute(Lake(sample_warehouse), [], weeks, months)
    assert computed["flag_usage_daily"].cast(SCHEMAS["flag_usage_daily"]) == stored["flag_usage_daily"]
    results = checks.run({**stored, "week_project_usage": computed["week_project_usage"],
                          "built_usage_days": pa.table({"day": pa.array(calendar.days(first, last), pa.date32())})})
    assert {r.name: r.offending for r in results} == {r.name: 0 for r in results}
    assert "usage_matches_metrics_summary" in {r.name for r in results} and len(weeks) > 100
    assert computed["week_project_usage"].num_rows == stored["metrics_summary_trends"].num_rows > 300


@pytest.mark.parametrize("projects", [(), ("checkout",), ("checkout", "payments"), ("default", "growth", "sandbox")])
def test_the_published_flag_lifecycle_gives_the_lifecycle_figures_of_any_projects(sample_warehouse, projects):
    import pyarrow.parquet as pq

    from pipeline import trends
    from pipeline.lake import Lake

    published = pq.read_table(sample_warehouse / "warehouse" / "flag_lifecycle" / "part-0.parquet")
    assert {d.as_py() for d in published["as_of"]} == {dt.date(2026, 1, 31)}
    combined = trends.PublishedLifecycle(published).figures(projects)
    assert combined == trends.lifecycle_now(Lake(sample_warehouse), dt.date(2026, 1, 31), projects)
    assert combined["lifecycleTrends"]["production"]["totalFlags"] > 0


def continuing_instance() -> Instance:
    """Flags last evaluated long before a 90-day window, and one evaluated in it."""
    u = Instance()
    u.project("p")
    u.flag("old", "p", "2025-01-02T10:00")
    u.metrics("old", "web", "production", "2025-01-10T10:00", yes=3, no=0)  # long before the window
    u.flag("mixed", "p", "2025-01-02T10:00")
    u.metrics("mixed", "web", "production", "2025-01-12T10:00", yes=1, no=0)
    u.metrics("mixed", "web", "development", "2025-06-01T10:00", yes=2, no=2)
    u.flag("dev-only", "p", "2025-01-02T10:00")
    u.metrics("dev-only", "web", "development", "2025-01-15T10:00", yes=4, no=0)
    return u


def test_a_daily_run_continues_the_flags_table_without_reading_the_months_before_its_window(tmp_path):
    u = continuing_instance()
    built(u, tmp_path, "2025-06-20")
    u.metrics("mixed", "web", "development", "2025-06-21T10:00", yes=5, no=0)
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    # the run of 2025-06-21 reads the usage from 2025-03-01 on (the month of 2025-03-24, 90 days
    # before): January's stored usage, emptied here, is not read again
    january = tmp_path / "warehouse" / "flag_usage_daily" / "month=2025-01" / "part-0.parquet"
    pq.write_table(pq.read_table(january).schema.empty_table(), january)
    job.build(tmp_path, job.plan_run(tmp_path, day("2025-06-21")))
    table = {flag: row for (flag, _), row in flags(tmp_path).items()}
    assert {flag: (row["last_evaluated_day"], row["last_evaluated_production_day"], row["evaluations_7d"],
                   row["evaluations_90d"]) for flag, row in table.items()} == {
        "old": (day("2025-01-10"), day("2025-01-10"), 0, 0),
        "mixed": (day("2025-06-21"), day("2025-01-12"), 5, 9),
        "dev-only": (day("2025-01-15"), None, 0, 0)}
    assert {row["cleanup_reason"] for row in table.values()} == {"potentially_stale"}  # releases past 40 days


def test_the_continued_flags_table_is_the_one_the_whole_history_gives(tmp_path):
    u = continuing_instance()
    built(u, tmp_path / "daily", "2025-06-20")
    u.metrics("old", "web", "development", "2025-06-21T10:00", yes=1, no=0)
    u.land(tmp_path / "daily", extracted_at="2026-01-02T00:00")
    job.build(tmp_path / "daily", job.plan_run(tmp_path / "daily", day("2025-06-21")))
    built(u, tmp_path / "whole", "2025-06-21")
    assert flags(tmp_path / "daily") == flags(tmp_path / "whole")


def test_a_stored_flags_table_whose_last_days_no_longer_hold_is_not_continued(tmp_path):
    u = continuing_instance()
    built(u, tmp_path, "2025-06-20")
    stored = tmp_path / "warehouse" / "flags" / "part-0.parquet"
    table = pq.read_table(stored)
    # say "old" was last evaluated on 2025-05-05, a day in the window with no evaluations of it
    days = [day("2025-05-05") if flag == "old" else last
            for flag, last in zip(table["flag"].to_pylist(), table["last_evaluated_day"].to_pylist())]
    pq.write_table(table.set_column(table.schema.get_field_index("last_evaluated_day"), "last_evaluated_day",
                                    pa.array(days, pa.date32())), stored)
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    job.build(tmp_path, job.plan_run(tmp_path, day("2025-06-21")))
    assert flags(tmp_path)["old", 1]["last_evaluated_day"] == day("2025-01-10")  # from the whole history


def test_a_landing_that_reaches_before_the_window_rebuilds_the_flags_table_from_the_whole_history(tmp_path):
    u = continuing_instance()
    built(u, tmp_path, "2025-06-20")
    assert flags(tmp_path)["dev-only", 1]["last_evaluated_production_day"] is None
    u.environment("development", "production")  # a type changes every day it was evaluated on
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    job.build(tmp_path, job.plan_run(tmp_path, day("2025-06-21")))
    assert flags(tmp_path)["dev-only", 1]["last_evaluated_production_day"] == day("2025-01-15")


def constant_instance() -> Instance:
    """Kill switches (no expected lifetime: never potentially stale) enabled in production, as of 2025-03-31."""
    u = Instance()
    u.project("p")
    evaluated = {  # flag: [(environment, day, yes, no)]
        "on": [("production", "2025-03-20", 100, 0)],
        "off": [("production", "2025-03-20", 0, 150)],
        "one-no": [("production", "2025-03-20", 200, 0), ("production", "2025-03-25", 0, 1)],
        "ninety-nine": [("production", "2025-03-20", 99, 0)],
        "reconfigured": [("production", "2025-03-20", 500, 0)],
        "dev-mixed": [("production", "2025-03-20", 300, 0), ("development", "2025-03-20", 5, 5)],
        "old-change": [("production", "2025-03-20", 100, 0)],
        "dev-change": [("production", "2025-03-20", 100, 0)],
        "edge": [("production", "2025-03-02", 100, 0), ("production", "2025-03-01", 0, 7)],
        "young": [("production", "2025-03-20", 1000, 0)],
    }
    for flag, rows in evaluated.items():
        u.flag(flag, "p", "2025-03-10T10:00" if flag == "young" else "2025-01-01T10:00", type_="kill-switch")
        u.enable(flag, "production", "2025-03-10T11:00" if flag == "young" else "2025-01-05T10:00")
        for environment, day, yes, no in rows:
            u.metrics(flag, "web", environment, f"{day}T10:00", yes=yes, no=no)
    u.event("feature-strategy-update", "2025-03-21T10:00", feature_name="reconfigured", project="p",
            environment="production")  # ten days before: its configuration changed in the window
    u.event("feature-strategy-update", "2025-02-19T10:00", feature_name="old-change", project="p",
            environment="production")  # forty days before: outside the window
    u.event("feature-environment-variants-updated", "2025-03-26T10:00", feature_name="dev-change", project="p",
            environment="development")  # not a production-type environment
    return u


def test_flags_constant_in_production_are_always_on_or_always_off(tmp_path):
    built(constant_instance(), tmp_path, "2025-03-31")
    reasons = {flag: row["cleanup_reason"] for (flag, _), row in flags(tmp_path).items()}
    assert reasons == {
        "on": "always_on",  # 100 yes, no no: just enough
        "off": "always_off",
        "one-no": None,  # 200 yes and one no
        "ninety-nine": None,  # one evaluation short
        "reconfigured": None,  # a strategy changed ten days ago
        "dev-mixed": "always_on",  # development answers both ways; only production-type environments count
        "old-change": "always_on",
        "dev-change": "always_on",
        # 2025-03-02 is within the 30 days up to 2025-03-31, 2025-03-01 is not: its 7 no do not count
        "edge": "always_on",
        "young": None,  # 21 days old
    }


def test_the_constant_thresholds_are_settings_and_a_changed_one_rebuilds_the_flags_tables(tmp_path, monkeypatch):
    built(constant_instance(), tmp_path, "2025-03-31")
    assert job.plan_run(tmp_path, day("2025-03-31")) == []
    monkeypatch.setenv("INSIGHTS_CONSTANT_EVALUATIONS", "99")
    monkeypatch.setenv("INSIGHTS_CONSTANT_DAYS", "31")  # 2025-03-01 counts now: "edge" answered both ways
    assert [p.grain for p in job.plan_run(tmp_path, day("2025-03-31"))] == ["flags"]
    job.build(tmp_path, job.plan_run(tmp_path, day("2025-03-31")))
    reasons = {flag: row["cleanup_reason"] for (flag, _), row in flags(tmp_path).items()}
    assert (reasons["ninety-nine"], reasons["edge"], reasons["on"]) == ("always_on", None, "always_on")
    monkeypatch.setenv("INSIGHTS_CONSTANT_DAYS", "91")
    from pipeline.trends import CleanupSettings, SettingsError

    with pytest.raises(SettingsError, match="INSIGHTS_CONSTANT_DAYS must be a whole number from 1 to 90, not '91'"):
        CleanupSettings.from_environment()


def test_on_the_sample_some_flags_are_always_on_and_some_always_off(sample_warehouse):
    reasons = [row["cleanup_reason"] for row in flags(sample_warehouse).values()]
    assert reasons.count("always_on") >= 1 and reasons.count("always_off") >= 1
    for row in flags(sample_warehouse).values():
        if row["cleanup_reason"] in ("always_on", "always_off"):  # what makes them so, seen in their own columns
            assert row["evaluations_30d"] >= 100 and row["type"] in ("kill-switch", "permission", "operational")


def unknown_flags(data_dir) -> dict[str, dict]:
    return {r["flag"]: r for r in pq.read_table(data_dir / "warehouse" / "unknown_flags" / "part-0.parquet").to_pylist()}


def test_unknown_flags_are_names_never_created_or_deleted_still_evaluated(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-02T10:00")
    u.metrics("a", "web", "production", "2025-01-05T10:00", yes=1, no=0)  # known: never listed
    u.flag("kept", "p", "2025-01-02T10:00")
    u.archive("kept", "2025-01-04T10:00")
    u.metrics("kept", "web", "production", "2025-01-06T10:00", yes=1, no=0)  # archived is still known
    # a name never created: daily rows where the lake has no hourly rows that day, else hourly rows
    u.daily_metrics("ghost", "web", "production", "2025-01-03", yes=10, no=0)
    u.metrics("ghost", "web", "development", "2025-01-05T10:00", yes=3, no=1)
    u.daily_metrics("ghost", "web", "development", "2025-01-05", yes=99, no=99)  # the day has hours: ignored
    u.metrics("ghost", "cli", "production", "2025-01-20T09:00", yes=2, no=0)
    # the lake has no hourly file of the 20th (its only hour was set aside), yet the day has hours: ignored
    u.daily_metrics("ghost", "cli", "production", "2025-01-20", yes=50, no=50)
    u.daily_metrics("old-ghost", "web", "production", "2024-10-01", yes=5, no=0)  # before the 90 days
    # a flag deleted on the 8th: the days after its deletion's day count, not those before
    u.flag("gone", "p", "2025-01-02T10:00")
    u.metrics("gone", "web", "production", "2025-01-06T10:00", yes=4, no=0)
    u.archive("gone", "2025-01-07T10:00")
    u.delete("gone", "2025-01-08T10:00")
    u.metrics("gone", "web", "production", "2025-01-08T12:00", yes=5, no=0)
    u.metrics("gone", "mobile", "production", "2025-01-10T10:00", yes=0, no=6)
    u.metrics("gone", "web", "production", "2025-01-19T10:00", yes=1, no=1)
    # deleted, then created again: known
    u.flag("back", "p", "2025-01-02T10:00")
    u.archive("back", "2025-01-03T10:00")
    u.delete("back", "2025-01-03T11:00")
    u.flag("back", "p", "2025-01-04T10:00")
    u.metrics("back", "web", "production", "2025-01-05T10:00", yes=1, no=0)
    built(u, tmp_path, "2025-01-21")
    table = unknown_flags(tmp_path)
    assert set(table) == {"ghost", "gone"}
    assert table["ghost"] == {
        "as_of": day("2025-01-21"), "flag": "ghost", "status": "never_created", "deleted_at": None,
        "first_evaluated_day": day("2025-01-03"), "last_evaluated_day": day("2025-01-20"),
        "evaluations_7d": 2, "evaluations_30d": 10 + 4 + 2, "apps": ["cli", "web"]}
    assert table["gone"] == {
        "as_of": day("2025-01-21"), "flag": "gone", "status": "deleted", "deleted_at": at("2025-01-08T10:00"),
        "first_evaluated_day": day("2025-01-10"), "last_evaluated_day": day("2025-01-19"),
        "evaluations_7d": 2, "evaluations_30d": 6 + 2, "apps": ["mobile", "web"]}


def test_an_unknown_flags_hour_landed_again_counts_once_as_last_landed(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-02T10:00")
    u.metrics("ghost", "web", "production", "2025-01-20T08:00", yes=1, no=0)
    u.metrics("ghost", "web", "production", "2025-01-20T09:00", yes=2, no=0)
    u.land(tmp_path, extracted_at="2025-01-20T09:30")
    u.hourly[-1] = ("ghost", "web", "production", at("2025-01-20T09:00"), 7, 1)  # the hour grew after the landing
    built(u, tmp_path, "2025-01-21")
    row = unknown_flags(tmp_path)["ghost"]
    assert (row["evaluations_7d"], row["first_evaluated_day"], row["apps"]) == (1 + 8, day("2025-01-20"), ["web"])
