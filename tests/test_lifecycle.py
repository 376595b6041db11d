"""The lifecycle route's figures (SPEC §7, Unleash 8's lifecycleTrendsSchema), worked out by hand.

The moment is the end of 2025-03-10 (23:59:59.999 UTC); "this week" is after the end of 2025-03-03.
"""

import datetime as dt

import pytest

from pipeline import document, trends
from tests.instance import Instance

AS_OF = dt.date(2025, 3, 10)


@pytest.fixture
def lake(tmp_path):
    return land_stages(tmp_path)


def land_stages(data_dir):
    """The scenario's flags and their stages, landed in ``data_dir``'s lake."""
    u = Instance()
    for project in ("p", "q", "r"):
        u.project(project)
    u.archive_project("r", "2025-02-01T00:00")
    stages = {  # flag: (project, type, created, [(stage, entered)])
        "a": ("p", "release", "2025-01-01T00:00",
              [("initial", "2025-01-01T00:00"), ("pre-live", "2025-01-02T00:00"), ("live", "2025-01-10T00:00"),
               ("completed", "2025-03-05T00:00")]),
        "b": ("p", "experiment", "2025-02-01T00:00", [("initial", "2025-02-01T00:00"), ("pre-live", "2025-02-01T12:00")]),
        "c": ("q", "kill-switch", "2025-02-20T00:00", [("pre-live", "2025-02-20T00:00"), ("live", "2025-03-08T00:00")]),
        "d": ("q", "release", "2025-01-15T00:00", [("pre-live", "2025-01-15T00:00"), ("live", "2025-01-20T00:00")]),
        "e": ("p", "release", "2025-01-05T00:00",
              [("pre-live", "2025-01-05T00:00"), ("live", "2025-01-06T00:00"), ("archived", "2025-02-10T00:00")]),
        "f": ("r", "release", "2025-01-03T00:00", [("pre-live", "2025-01-03T00:00")]),
        "g": ("p", "release", "2025-02-25T00:00", [("pre-live", "2025-03-01T00:00"), ("live", "2025-03-20T00:00")]),
    }
    for flag, (project, type_, created, entered) in stages.items():
        u.flag(flag, project, created, type_=type_)
        for stage, when in entered:
            u.lifecycle(flag, stage, when)
    u.archive("e", "2025-02-10T00:00")  # e no longer exists: only its past counts
    return u.land(data_dir)


def stage(categories: dict, total: int, now: float, past: float) -> dict:
    return {"categories": {c: {"flagsOlderThanWeek": o, "newFlagsThisWeek": n} for c, (o, n) in categories.items()},
            "totalFlags": total, "medianDaysInCurrentStage": now, "medianDaysHistorically": past}


def test_every_stage_by_category_with_its_medians(lake):
    figures = trends.lifecycle_now(lake, AS_OF)
    document.validate(figures, "lifecycleTrendsSchema")
    assert figures == {"lifecycleTrends": {
        # b (experiment, 37 days) and g (release, 9 days; its live comes after the moment);
        # left pre-live: e 1, d 5, a 8, c 16 days
        "develop": stage({"experimental": (1, 0), "release": (1, 0), "permanent": (0, 0)}, 2, 23, 6.5),
        # c (kill-switch, 2 days, this week) and d (release, 49 days); left live: e 35, a 54 days
        "production": stage({"experimental": (0, 0), "release": (1, 0), "permanent": (0, 1)}, 2, 25.5, 44.5),
        # a (release, 5 days, this week); none has left it
        "cleanup": stage({"experimental": (0, 0), "release": (0, 1), "permanent": (0, 0)}, 1, 5, 0),
    }}


def test_only_the_projects_asked_for_and_never_an_archived_one(lake):
    figures = trends.lifecycle_now(lake, AS_OF, ["q", "r"])
    assert figures["lifecycleTrends"] == {
        "develop": stage({"experimental": (0, 0), "release": (0, 0), "permanent": (0, 0)}, 0, 0, 10.5),  # c 16, d 5
        "production": stage({"experimental": (0, 0), "release": (1, 0), "permanent": (0, 1)}, 2, 25.5, 0),
        "cleanup": stage({"experimental": (0, 0), "release": (0, 0), "permanent": (0, 0)}, 0, 0, 0),
    }


def test_an_earlier_moment_sees_only_the_stages_entered_by_then(lake):
    figures = trends.lifecycle_now(lake, dt.date(2025, 1, 9))["lifecycleTrends"]
    # a, e and f exist then (r is listed until February): a pre-live 7 days, f pre-live 6 days, e live 3
    assert (figures["develop"]["totalFlags"], figures["develop"]["medianDaysInCurrentStage"]) == (2, 6.5)
    assert (figures["production"]["totalFlags"], figures["production"]["medianDaysInCurrentStage"]) == (1, 3)
    assert figures["develop"]["medianDaysHistorically"] == 1  # e: 2025-01-05 to 2025-01-06


def test_each_project_alone_is_what_the_route_gives_for_it(lake):
    every = trends.lifecycle_by_project(lake, AS_OF)
    assert every[None] == trends.lifecycle_now(lake, AS_OF)
    assert set(every) == {None, "p", "q"}  # r is archived, so not listed
    for project in ("p", "q"):
        assert every[project] == trends.lifecycle_now(lake, AS_OF, [project])
    assert every["q"]["lifecycleTrends"]["production"]["totalFlags"] == 2
