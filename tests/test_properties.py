"""Random event histories: whatever happens, the document's invariants hold (hypothesis)."""

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import document
from tests.instance import Instance

START = dt.datetime(2025, 1, 6, 9, 0)
PROJECTS = ["p", "q", "r"]
FLAGS = ["f1", "f2", "f3", "f4"]
TYPES = ["release", "experiment", "operational", "kill-switch"]

step = st.tuples(
    st.sampled_from(["create", "archive", "revive", "delete", "stale", "fresh", "move", "retype", "enable",
                     "archive-project", "revive-project", "lifetime"]),
    st.sampled_from(FLAGS),
    st.sampled_from(PROJECTS),
    st.sampled_from(TYPES),
    st.integers(min_value=1, max_value=60 * 24 * 3),  # minutes since the previous step
)


def instance_from(steps) -> Instance:
    """Replay random steps the way Unleash allows them (no archiving twice, no reviving the living)."""
    u = Instance()
    for project in PROJECTS:
        u.project(project, "2025-01-01T00:00")
    u.user(1, "2025-01-01T00:00")
    live, archived_projects, when = {}, set(), START
    for action, flag, project, type_, minutes in steps:
        when += dt.timedelta(minutes=minutes)
        at = when.isoformat(timespec="minutes")
        state = live.get(flag)
        if action == "create" and state is None and project not in archived_projects:
            u.flag(flag, project, at, type_=type_)
            live[flag] = "active"
        elif state is None:
            continue
        elif action == "archive" and state == "active":
            u.archive(flag, at)
            live[flag] = "archived"
        elif action == "revive" and state == "archived" and u.flags[flag]["project"] not in archived_projects:
            u.revive(flag, at)
            live[flag] = "active"
        elif action == "delete" and state == "archived":
            u.delete(flag, at)
            del live[flag]
        elif action in ("stale", "fresh") and state == "active":
            u.stale(flag, at, on=action == "stale")
        elif action == "move" and state == "active" and project not in archived_projects:
            u.move(flag, at, to=project)
        elif action == "retype" and state == "active":
            u.update_metadata(flag, at, type_=type_)
        elif action == "enable" and state == "active":
            u.enable(flag, "production", at)
            u.metrics(flag, "web", "production", at[:13] + ":00", yes=3, no=1)
        elif action == "archive-project" and project not in archived_projects:
            u.archive_project(project, at)
            archived_projects.add(project)
        elif action == "revive-project" and project in archived_projects:
            u.revive_project(project, at)
            archived_projects.discard(project)
        elif action == "lifetime":
            u.change_lifetime(type_, at, (minutes % 3) * 2 or None)
    return u


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=30))
def test_every_history_keeps_the_documents_invariants(steps):
    with tempfile.TemporaryDirectory() as folder:
        doc = instance_from(steps).insights(Path(folder), "2025-01-06", "2025-02-09")
    document.validate(doc)
    for row in doc["flagTrends"] + doc["projectFlagTrends"]:
        assert row["active"] + row["stale"] + row["potentiallyStale"] == row["total"]
        assert min(row["active"], row["stale"], row["potentiallyStale"]) >= 0
    for row in doc["userTrends"]:
        assert row["inactive"] >= 0 and row["inactive"] == row["total"] - row["active"]
    by_date = {r["date"]: r for r in doc["flagTrends"]}
    for week in {r["week"] for r in doc["projectFlagTrends"]}:
        rows = [r for r in doc["projectFlagTrends"] if r["week"] == week]
        sunday = by_date[rows[0]["date"]]
        for field in ("total", "active", "stale", "potentiallyStale"):
            assert sum(r[field] for r in rows) == sunday[field]
    for row in doc["creationArchiveTrends"]:
        assert row["createdFlags"] and min(row["createdFlags"].values()) >= 0 and row["archivedFlags"] >= 0
    for row in doc["metricsSummaryTrends"]:
        assert row["totalRequests"] == row["totalYes"] + row["totalNo"]
