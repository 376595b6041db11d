"""Landing rolls each metrics day up once; the datasets built from the sums are the bytes built from
the hourly rows, and a landing that dies between a day file and its sums heals on the next one."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from pipeline import job, rollups
from pipeline.lake import Lake
from tests.instance import Instance

AS_OF = dt.date(2025, 1, 9)


def instance() -> Instance:
    """Two flags evaluated by two apps over three days of hours, and a day with only daily rows."""
    u = Instance()
    u.project("p")
    u.environment("production", "production")
    for name in ("a", "b"):
        u.flag(name, "p", "2025-01-02T09:00")
    for day in ("06", "07", "08"):
        for hour in ("01", "13", "23"):
            u.metrics("a", "web", "production", f"2025-01-{day}T{hour}:00", int(day) + int(hour), 1)
            u.metrics("b", "api", "development", f"2025-01-{day}T{hour}:00", 2, int(hour))
        u.metrics("a", "api", "production", f"2025-01-{day}T05:00", 7, 0)
    u.daily_metrics("b", "web", "production", "2025-01-03", 40, 2)
    return u


def sums_listed(data_dir: Path) -> dict[str, dict[str, str]]:
    state = json.loads((data_dir / "lake" / "_state.json").read_text(encoding="utf-8"))
    return {entity: entry.get("sums", {}) for entity, entry in state["entities"].items() if "days" in entry}


def warehouse_bytes(data_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((data_dir / "warehouse").rglob("*.parquet"))}


def test_every_landed_day_is_rolled_up_to_the_sums_of_its_file(tmp_path):
    lake = instance().land(tmp_path)
    assert {entity: sorted(days) for entity, days in sums_listed(tmp_path).items()} == {
        "client_metrics": ["2025-01-06", "2025-01-07", "2025-01-08"], "client_metrics_daily": ["2025-01-03"]}
    for entity in ("client_metrics", "client_metrics_daily"):
        for day_file, sums in lake.day_sums_files(entity).items():
            assert rollups.read_sums(sums).equals(rollups.day_sums(day_file))
    # 2025-01-06: a (web) 7+1, 19+1, 29+1 -> yes 55, no 3; a (api) 7, 0; b (api) 6 yes, 1+13+23 no
    sums = rollups.read_sums(lake.day_sums_files("client_metrics")[lake.day_files("client_metrics")[dt.date(2025, 1, 6)]])
    assert sorted(tuple(r.values()) for r in sums.to_pylist()) == [
        ("a", "api", "production", 7, 0), ("a", "web", "production", 55, 3), ("b", "api", "development", 6, 37)]


def test_the_datasets_built_from_the_sums_are_the_bytes_built_from_the_hourly_rows(tmp_path):
    rolled, unrolled = tmp_path / "rolled", tmp_path / "unrolled"
    for data_dir in (rolled, unrolled):
        instance().land(data_dir)
    state = json.loads((unrolled / "lake" / "_state.json").read_text(encoding="utf-8"))
    for entry in state["entities"].values():
        entry.pop("sums", None)  # a lake as code before the roll-ups left it: every day summed from its file
    (unrolled / "lake" / "_state.json").write_text(json.dumps(state), encoding="utf-8")
    assert Lake(unrolled).day_sums_files("client_metrics") == {}
    for data_dir in (rolled, unrolled):
        job.build(data_dir, job.plan_run(data_dir, AS_OF))
    built = warehouse_bytes(rolled)
    assert any("flag_usage_daily" in path for path in built) and built == warehouse_bytes(unrolled)
    u = instance()
    u.metrics("a", "web", "production", "2025-01-09T02:00", 1, 1)
    u.land(unrolled, extracted_at="2026-01-02T00:00")  # the next landing rolls up the days that had none
    assert {entity: len(days) for entity, days in sums_listed(unrolled).items()} == {
        "client_metrics": 4, "client_metrics_daily": 1}


def test_a_landing_that_dies_between_a_day_file_and_its_sums_heals_on_the_next(tmp_path, monkeypatch):
    clean = tmp_path / "clean"
    instance().land(clean)
    job.build(clean, job.plan_run(clean, AS_OF))
    crashed = tmp_path / "crashed"
    roll_up, calls = Lake._roll_up, []

    def dies_on_the_second(self, day_file, sums, day):
        calls.append(day_file)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a Ctrl-C between the hourly file and its sums would
        return roll_up(self, day_file, sums, day)

    monkeypatch.setattr(Lake, "_roll_up", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        instance().land(crashed)
    monkeypatch.setattr(Lake, "_roll_up", roll_up)
    assert Lake(crashed).generation == 0 and list((crashed / "lake").rglob("*.parquet"))  # files, none committed
    instance().land(crashed)
    job.build(crashed, job.plan_run(crashed, AS_OF))
    assert sums_listed(crashed) == sums_listed(clean)
    assert sorted(p.name for p in (crashed / "lake").rglob("*.parquet")) == sorted(
        p.name for p in (clean / "lake").rglob("*.parquet"))  # the dead landing's files are gone
    assert warehouse_bytes(crashed) == warehouse_bytes(clean)
