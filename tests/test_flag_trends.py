"""flagTrends and projectFlagTrends, rule by rule (SPEC §4), on tiny hand-made instances."""

from tests.instance import Instance, by, day


def counts(row: dict) -> tuple:
    return row["total"], row["active"], row["stale"], row["potentiallyStale"]


def test_revive_brings_a_flag_back_and_delete_removes_it(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.archive("a", "2025-01-08T12:00")
    u.revive("a", "2025-01-10T09:00")
    u.archive("a", "2025-01-12T08:00")
    u.delete("a", "2025-01-13T08:00")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-14")
    totals = {r["date"][:10]: r["total"] for r in doc["flagTrends"]}
    assert totals == {
        "2025-01-06": 1, "2025-01-07": 1, "2025-01-08": 0, "2025-01-09": 0, "2025-01-10": 1,
        "2025-01-11": 1, "2025-01-12": 0, "2025-01-13": 0, "2025-01-14": 0,
    }


def test_stale_follows_stale_on_off_and_a_metadata_update_can_clear_it(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("b", "p", "2025-01-06T10:00")
    u.stale("b", "2025-01-07T10:00")
    u.stale("b", "2025-01-09T10:00", on=False)
    u.stale("b", "2025-01-10T10:00")
    u.update_metadata("b", "2025-01-11T10:00", stale=False)
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-11")
    stale = [r["stale"] for r in doc["flagTrends"]]
    assert stale == [0, 1, 1, 0, 1, 0]
    assert [r["active"] for r in doc["flagTrends"]] == [1, 0, 0, 1, 0, 1]


def test_potentially_stale_only_after_the_lifetime_has_passed(tmp_path):
    # release lives 40 days: created 2025-01-06T10:00 -> potentially stale once T > 2025-02-15T10:00
    u = Instance()
    u.project("p")
    u.flag("r", "p", "2025-01-06T10:00")
    doc = u.insights(tmp_path, "2025-02-14", "2025-02-16")
    assert [r["potentiallyStale"] for r in doc["flagTrends"]] == [0, 1, 1]
    assert [r["active"] for r in doc["flagTrends"]] == [1, 0, 0]


def test_potentially_stale_is_strictly_after_the_lifetime(tmp_path):
    # created at 23:59:59.999: created + 40 days is exactly the end of 2025-02-15, so not yet then
    u = Instance()
    u.project("p")
    u.flag("edge", "p", "2025-01-06T23:59:59.999")
    doc = u.insights(tmp_path, "2025-02-15", "2025-02-16")
    assert [r["potentiallyStale"] for r in doc["flagTrends"]] == [0, 1]


def test_a_stale_flag_is_never_also_potentially_stale(tmp_path):
    u = Instance()
    u.project("p")
    u.flag("r", "p", "2025-01-06T10:00")
    u.stale("r", "2025-01-07T10:00")
    row = day(u.insights(tmp_path, "2025-03-01", "2025-03-01"), "flagTrends", "2025-03-01")
    assert counts(row) == (1, 0, 1, 0)


def test_a_changed_lifetime_applies_from_its_event_on(tmp_path):
    # release 40 -> 10 days on 2025-01-10; created 2025-01-01T12:00: potentially stale once
    # T > 2025-01-11T12:00 under the new lifetime (it would have been 2025-02-10 under the old one)
    u = Instance()
    u.project("p")
    u.flag("r", "p", "2025-01-01T12:00")
    u.change_lifetime("release", "2025-01-10T00:00", 10)
    doc = u.insights(tmp_path, "2025-01-09", "2025-01-12")
    assert [r["potentiallyStale"] for r in doc["flagTrends"]] == [0, 0, 1, 1]


def test_a_type_change_applies_the_new_types_lifetime(tmp_path):
    # a kill switch never goes potentially stale; as a release from 2025-03-01 it is 54 days old
    u = Instance()
    u.project("p")
    u.flag("k", "p", "2025-01-06T10:00", type_="kill-switch")
    u.update_metadata("k", "2025-03-01T09:00", type_="release")
    doc = u.insights(tmp_path, "2025-02-28", "2025-03-01")
    assert [r["potentiallyStale"] for r in doc["flagTrends"]] == [0, 1]


def test_a_moved_flag_counts_in_its_project_at_each_snapshot(tmp_path):
    u = Instance()
    u.project("p")
    u.project("q")
    u.flag("m", "p", "2025-01-06T10:00")
    u.move("m", "2025-01-15T10:00", to="q")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-19")
    weeks = by(doc["projectFlagTrends"], "week", "project")
    assert (weeks["2025-02", "p"]["total"], weeks["2025-02", "q"]["total"]) == (1, 0)
    assert (weeks["2025-03", "p"]["total"], weeks["2025-03", "q"]["total"]) == (0, 1)


def test_a_zero_flag_project_is_listed_with_full_health(tmp_path):
    u = Instance()
    u.project("empty")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-12")
    row = by(doc["projectFlagTrends"], "week", "project")["2025-02", "empty"]
    assert counts(row) == (0, 0, 0, 0)
    assert (row["health"], row["technicalDebt"], row["timeToProduction"], row["users"]) == (100, 0, 0, 0)


def test_an_archived_project_leaves_project_flag_trends_and_flag_trends(tmp_path):
    u = Instance()
    u.project("p")
    u.project("old")
    u.flag("a", "p", "2025-01-06T10:00")
    u.flag("b", "old", "2025-01-06T10:00")
    u.archive_project("old", "2025-01-15T10:00")
    doc = u.insights(tmp_path, "2025-01-12", "2025-01-19")
    projects = {(r["week"], r["project"]) for r in doc["projectFlagTrends"]}
    assert projects == {("2025-02", "p"), ("2025-02", "old"), ("2025-03", "p")}
    totals = {r["date"][:10]: r["total"] for r in doc["flagTrends"]}
    assert (totals["2025-01-14"], totals["2025-01-15"]) == (2, 1)


def test_a_revived_project_is_listed_again(tmp_path):
    u = Instance()
    u.project("p")
    u.archive_project("p", "2025-01-07T10:00")
    u.revive_project("p", "2025-01-21T10:00")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-26")
    assert {r["week"] for r in doc["projectFlagTrends"]} == {"2025-04"}


def test_flag_trends_on_a_sunday_equals_the_sum_of_that_weeks_project_flag_trends(tmp_path):
    u = Instance()
    for project in ("p", "q", "z"):
        u.project(project)
    u.flag("a", "p", "2024-12-02T10:00")
    u.flag("b", "p", "2025-01-06T10:00")
    u.flag("c", "q", "2025-01-07T10:00", type_="kill-switch")
    u.stale("b", "2025-01-08T10:00")
    doc = u.insights(tmp_path, "2025-01-06", "2025-01-12")
    sunday = day(doc, "flagTrends", "2025-01-12")
    week = [r for r in doc["projectFlagTrends"] if r["week"] == "2025-02"]
    summed = tuple(sum(r[k] for r in week) for k in ("total", "active", "stale", "potentiallyStale"))
    assert counts(sunday) == summed == (3, 1, 1, 1)


def test_health_rounds_half_up(tmp_path):
    # 1 active flag of 8: 100 * 1/8 = 12.5 -> 13 (round half to even would give 12)
    u = Instance()
    u.project("p")
    for n in range(8):
        u.flag(f"f{n}", "p", "2025-01-06T10:00")
        if n:
            u.stale(f"f{n}", "2025-01-07T10:00")
    row = by(u.insights(tmp_path, "2025-01-12", "2025-01-12")["projectFlagTrends"], "project")["p"]
    assert (row["health"], row["technicalDebt"]) == (13, 87)


def test_time_to_production_is_the_mean_of_floored_days_rounded_half_up(tmp_path):
    # release flags with 1, 1, 1 and 2 whole days to their first production enable: mean 1.25 -> 1.3
    u = Instance()
    u.project("p")
    u.environment("prod-eu", "production")
    for name, enabled in (("a", "2025-01-02T11:00"), ("b", "2025-01-03T09:59"), ("c", "2025-01-02T10:00"),
                          ("d", "2025-01-03T10:00")):
        u.flag(name, "p", "2025-01-01T10:00")
        u.enable(name, "development", "2025-01-01T11:00")
        u.enable(name, "prod-eu" if name == "b" else "production", enabled)
    u.flag("dev-only", "p", "2025-01-01T10:00")
    u.enable("dev-only", "development", "2025-01-01T12:00")
    u.flag("kill", "p", "2025-01-01T10:00", type_="kill-switch")
    u.enable("kill", "production", "2025-01-20T10:00")
    u.archive("d", "2025-01-05T10:00")
    row = by(u.insights(tmp_path, "2025-01-05", "2025-01-05")["projectFlagTrends"], "project")["p"]
    assert row["timeToProduction"] == 1.3


def test_time_to_production_is_a_tenth_when_it_rounds_to_zero_and_zero_without_flags(tmp_path):
    u = Instance()
    u.project("p")
    u.project("q")
    u.flag("quick", "p", "2025-01-06T10:00")
    u.enable("quick", "production", "2025-01-06T11:00")
    u.flag("later", "q", "2025-01-06T10:00")
    u.enable("later", "production", "2025-01-20T10:00")
    weeks = by(u.insights(tmp_path, "2025-01-12", "2025-01-12")["projectFlagTrends"], "project")
    assert (weeks["p"]["timeToProduction"], weeks["q"]["timeToProduction"]) == (0.1, 0)


def test_users_counts_distinct_members_at_the_snapshot(tmp_path):
    u = Instance()
    u.project("p")
    u.member("p", 1, "2025-01-01T10:00")
    u.member("p", 2, "2025-01-08T10:00")
    u.member("p", 3, "2025-01-20T10:00")
    doc = u.insights(tmp_path, "2025-01-05", "2025-01-12")
    users = {r["week"]: r["users"] for r in doc["projectFlagTrends"]}
    assert users == {"2025-01": 1, "2025-02": 2}
