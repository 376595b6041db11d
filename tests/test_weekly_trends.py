"""The weekly usage and change arrays (SPEC §3-4): metrics, updates, lifecycle, creation vs archive."""

import datetime as dt

from pipeline import job
from tests.instance import Instance, at, by


def metrics_instance() -> Instance:
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-02T10:00")
    u.metrics("a", "web", "production", "2025-01-06T10:00", yes=10, no=5)
    u.metrics("a", "api", "development", "2025-01-06T11:00", yes=1, no=1)
    u.daily_metrics("a", "web", "production", "2025-01-06", yes=999, no=999)  # the day has hours: ignored
    u.daily_metrics("a", "web", "production", "2025-01-07", yes=100, no=0)  # no hours that day: counted
    u.metrics("a", "web", "staging-eu", "2025-01-09T10:00", yes=3, no=0)  # an unknown environment counts
    return u


def test_metrics_summary_sums_hourly_rows_and_daily_rows_of_days_without_hours(tmp_path):
    row = by(metrics_instance().insights(tmp_path, "2025-01-06", "2025-01-12")["metricsSummaryTrends"], "week")["2025-02"]
    assert row == {
        "week": "2025-02", "date": "2025-01-12T23:59:59.999Z", "project": "p", "totalRequests": 120,
        "totalYes": 114, "totalNo": 6, "totalApps": 2, "totalFlags": 1, "totalEnvironments": 3,
    }


def test_a_partial_week_counts_up_to_the_end_of_the_to_day(tmp_path):
    doc = metrics_instance().insights(tmp_path, "2025-01-06", "2025-01-08")
    row = by(doc["metricsSummaryTrends"], "week")["2025-02"]
    assert (row["date"], row["totalYes"], row["totalEnvironments"]) == ("2025-01-08T23:59:59.999Z", 111, 2)
    assert {r["date"] for r in doc["projectFlagTrends"]} == {"2025-01-08T23:59:59.999Z"}


def test_a_project_without_metrics_has_no_metrics_row(tmp_path):
    u = metrics_instance()
    u.project("quiet")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-12")
    assert [r["project"] for r in doc["metricsSummaryTrends"]] == ["p"]


def test_environment_type_trends_count_events_of_known_environments_by_type(tmp_path):
    u = Instance()
    u.environment("prod-eu", "production")
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.enable("a", "production", "2025-01-06T11:00")
    u.event("feature-strategy-update", "2025-01-07T11:00", feature_name="a", project="p", environment="prod-eu")
    u.enable("a", "development", "2025-01-08T11:00")
    u.event("api-token-created", "2025-01-08T12:00", environment="*")
    u.enable("a", "development", "2025-01-13T11:00", on=False)
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-13")
    rows = {(r["week"], r["environmentType"]): r["totalUpdates"] for r in doc["environmentTypeTrends"]}
    assert rows == {("2025-02", "development"): 1, ("2025-02", "production"): 2, ("2025-03", "development"): 1}


def test_lifecycle_counts_the_earliest_landed_live_stage(tmp_path):
    u = Instance()
    u.project("p")
    u.project("q")
    u.flag("a", "p", "2025-01-02T10:00")
    u.lifecycle("a", "initial", "2025-01-02T10:00")
    u.lifecycle("a", "live", "2025-01-07T10:00")
    u.flag("b", "p", "2025-01-02T10:00")
    u.lifecycle("b", "live", "2025-01-14T11:00")
    u.flag("c", "q", "2025-01-02T10:00")
    u.lifecycle("c", "pre-live", "2025-01-08T10:00")
    u.land(tmp_path)
    # b is revived: Unleash deletes its stages, but the lake keeps the live it landed before
    u.lifecycles = [row for row in u.lifecycles if row[0] != "b"] + [("b", "initial", at("2025-01-20T10:00"))]
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    doc = job.export(tmp_path, dt.date(2024, 12, 30), dt.date(2025, 1, 19))
    rows = {(r["week"], r["project"]): r["newProductionFlags"] for r in doc["lifecycleTrends"]}
    assert rows == {("2025-02", "p"): 1, ("2025-03", "p"): 1}


def test_without_lifecycles_a_flag_enters_production_with_its_first_production_metrics_while_enabled(tmp_path):
    u = Instance()  # no feature_lifecycles table at all: an Unleash without lifecycle stages
    u.project("p")
    u.project("q")
    u.flag("b", "p", "2025-01-02T10:00")
    u.metrics("b", "web", "production", "2025-01-08T10:00", yes=5, no=0)  # not enabled yet: no
    u.enable("b", "production", "2025-01-14T10:30")
    u.metrics("b", "web", "production", "2025-01-14T11:00", yes=5, no=0)
    u.flag("c", "q", "2025-01-02T10:00")
    u.enable("c", "development", "2025-01-08T09:00")
    u.metrics("c", "web", "development", "2025-01-08T10:00", yes=5, no=0)  # not production: no
    doc = u.insights(tmp_path, "2024-12-30", "2025-01-19")
    rows = {(r["week"], r["project"]): r["newProductionFlags"] for r in doc["lifecycleTrends"]}
    assert rows == {("2025-03", "p"): 1}


def test_created_flags_are_counted_by_type_and_never_empty(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.flag("b", "p", "2025-01-07T10:00", type_="experiment")
    u.archive("a", "2025-01-08T10:00")
    u.revive("a", "2025-01-14T10:00")  # a revive is not a creation
    u.archive("b", "2025-01-15T10:00")
    doc = u.insights(tmp_path, "2024-12-30", "2025-01-19")
    weeks = by(doc["creationArchiveTrends"], "week")
    assert set(weeks) == {"2025-02", "2025-03"}
    assert (weeks["2025-02"]["createdFlags"], weeks["2025-02"]["archivedFlags"]) == ({"experiment": 1, "release": 1}, 1)
    assert (weeks["2025-03"]["createdFlags"], weeks["2025-03"]["archivedFlags"]) == ({"experiment": 0, "release": 0}, 1)


def test_a_creation_counts_under_its_type_at_its_week_and_a_later_type_change_adds_no_key(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00", type_="operational")  # week 2025-02
    u.update_metadata("a", "2025-01-22T10:00", type_="kill-switch")  # week 2025-04: the key stays operational
    u.flag("b", "p", "2025-01-27T10:00", type_="kill-switch")  # week 2025-05: now kill-switch is a key
    u.flag("c", "p", "2025-02-03T10:00", type_="release")  # week 2025-06, Monday ...
    u.update_metadata("c", "2025-02-05T10:00", type_="experiment")  # ... and by its Sunday an experiment
    doc = u.insights(tmp_path, "2025-01-06", "2025-02-09")
    created = {r["week"]: r["createdFlags"] for r in doc["creationArchiveTrends"]}
    assert created == {
        "2025-02": {"operational": 1},
        "2025-03": {"operational": 0},
        "2025-04": {"operational": 0},
        "2025-05": {"kill-switch": 1, "operational": 0},
        "2025-06": {"experiment": 1, "kill-switch": 0, "operational": 0},
    }


def test_a_flag_moved_to_another_project_is_no_creation_there(tmp_path):
    u = Instance()
    u.project("a")
    u.project("b")
    u.flag("f", "a", "2025-01-07T10:00")  # week 2025-02, in a
    u.move("f", "2025-01-14T10:00", to="b")  # week 2025-03: b has no creation yet, so no row
    u.flag("g", "b", "2025-01-28T10:00", type_="experiment")  # week 2025-05: b's first creation
    doc = u.insights(tmp_path, "2025-01-06", "2025-02-02")
    created = {(r["week"], r["project"]): r["createdFlags"] for r in doc["creationArchiveTrends"]}
    assert created == {
        ("2025-02", "a"): {"release": 1},
        ("2025-03", "a"): {"release": 0},
        ("2025-04", "a"): {"release": 0},
        ("2025-05", "a"): {"release": 0},
        ("2025-05", "b"): {"experiment": 1},
    }


def test_weekly_arrays_keep_a_project_up_to_the_week_it_was_archived_in(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.metrics("a", "web", "production", "2025-01-14T10:00", yes=1, no=0)
    u.metrics("a", "web", "production", "2025-01-21T10:00", yes=1, no=0)
    u.archive("a", "2025-01-15T09:00")
    u.archive_project("p", "2025-01-15T10:00")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-26")
    assert {r["week"] for r in doc["creationArchiveTrends"]} == {"2025-02", "2025-03"}
    assert {r["week"] for r in doc["metricsSummaryTrends"]} == {"2025-03"}
    assert {r["week"] for r in doc["projectFlagTrends"]} == {"2025-02"}
