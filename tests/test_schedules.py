"""Scheduled runs, catch-up, per-partition backfills and Dask (issue: scheduling and scale-out)."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from flows.backfill import ARTIFACT_KEY, insights_backfill, task_runner
from flows.run import insights_run, logical_date
from flows.serve import daily_deployment
from pipeline import job
from pipeline.sources.sample import SampleSource
from pipeline.trends import DATASETS

UTC = dt.timezone.utc
LAST = dt.date(2024, 1, 21)


def warehouse_bytes(data_dir: Path) -> dict[str, str]:
    """Every warehouse file's hash, but the flag tables' as of one day (``flags``, ``flag_lifecycle``,
    ``unknown_flags``: a run writes them as of its date; a backfill leaves them)."""
    as_of_a_day = {d.name for d in DATASETS.values() if d.grain == "flags"}
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((data_dir / "warehouse").rglob("*.parquet")) if p.parent.name not in as_of_a_day
    }


def built_days(data_dir: Path) -> list[str]:
    """The days recorded built, from each month's record of its days."""
    return sorted(day for p in (data_dir / "state" / "partitions").glob("days=*.json") for day in json.loads(p.read_text()))


def test_a_run_scheduled_just_after_midnight_builds_the_day_that_ended():
    assert logical_date(dt.datetime(2025, 3, 4, 0, 30, tzinfo=UTC)) == dt.date(2025, 3, 3)
    assert logical_date(dt.datetime(2025, 3, 4, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == dt.date(2025, 3, 2)


def test_the_daily_deployment_runs_at_half_past_midnight_utc_with_no_source_parameter():
    deployment = daily_deployment(data_dir="/srv/insights")
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("30 0 * * *", "UTC")
    assert deployment.parameters == {"data_dir": "/srv/insights"}


def test_a_late_scheduled_run_builds_the_day_it_was_due_for(prefect, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    due = dt.datetime(2024, 1, 15, 0, 30, tzinfo=UTC)  # run today, long after it was due
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(insights_run, parameters={"data_dir": str(tmp_path)},
                                          state=Scheduled(scheduled_time=due))
    result = run_flow(insights_run, flow_run=flow_run, parameters={"data_dir": str(tmp_path)})
    assert result["date"] == "2024-01-14"
    assert built_days(tmp_path)[-1] == "2024-01-14"


def test_a_run_after_missed_days_catches_up_every_missing_partition(prefect, tmp_path):
    import json

    insights_run(date=dt.date(2024, 1, 10), data_dir=str(tmp_path))
    assert built_days(tmp_path)[-1] == "2024-01-10"
    result = insights_run(date=dt.date(2024, 1, 14), data_dir=str(tmp_path))  # 11, 12 and 13 were missed
    assert built_days(tmp_path)[-5:] == ["2024-01-10", "2024-01-11", "2024-01-12", "2024-01-13", "2024-01-14"]
    rebuilt = json.loads(Path(result["manifest"]).read_text())["steps"]["build"]["partitions"]
    assert {"day=2024-01-11", "day=2024-01-12", "day=2024-01-13", "day=2024-01-14", "week=2024-02"} <= set(rebuilt)


@pytest.fixture(scope="module")
def built_one_day_at_a_time(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("daily")
    job.land(data_dir, SampleSource(LAST))
    for day in range(1, 22):
        job.build(data_dir, job.plan_run(data_dir, dt.date(2024, 1, day)))
    return data_dir


def test_a_backfill_gives_the_bytes_of_partitions_built_one_day_at_a_time(prefect, tmp_path, built_one_day_at_a_time):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    job.land(tmp_path, SampleSource(LAST))
    result = insights_backfill(first=dt.date(2024, 1, 1), last=LAST, data_dir=str(tmp_path))
    assert result["partitions"] == 21 + 3 + 1  # days, weeks and the month's usage
    assert warehouse_bytes(tmp_path) == warehouse_bytes(built_one_day_at_a_time)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])))
    assert any("2024-01-01..2024-01-21: 25 partitions" in a.description for a in artifacts)  # other tests' too


def test_the_same_backfill_on_a_local_dask_cluster_gives_the_same_bytes(prefect, tmp_path, built_one_day_at_a_time):
    job.land(tmp_path, SampleSource(LAST))
    flow = insights_backfill.with_options(task_runner=task_runner("dask", None, 2))
    flow(first=dt.date(2024, 1, 1), last=LAST, data_dir=str(tmp_path))
    assert warehouse_bytes(tmp_path) == warehouse_bytes(built_one_day_at_a_time)


def test_the_librarys_logs_reach_the_flow_runs_logs(prefect, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from prefect.logging.handlers import APILogWorker

    state = insights_run(date=dt.date(2024, 1, 7), data_dir=str(tmp_path), return_state=True)
    APILogWorker.drain_all()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    assert any(log.name == "pipeline.lake" and "landed generation 1" in log.message for log in logs)


def test_a_normal_run_prints_no_telemetry_errors_and_no_tracebacks(tmp_path):
    import os
    import subprocess

    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    done = subprocess.run(["insights", "run", "--date", "2024-01-07", "--data-dir", str(tmp_path / "data")],
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr and "telemetry" not in done.stderr.lower()
    assert done.stdout.strip().endswith("insights_2023-12-07_2024-01-07.json")


@pytest.mark.parametrize("set_by_user, expected", [(None, 90), ("300", 300)])
def test_a_temporary_server_may_take_90_seconds_to_start_unless_the_user_says_otherwise(set_by_user, expected):
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    if set_by_user:
        environment["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = set_by_user
    probe = ("import flows\n"
             "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as timeout\n"
             "print(timeout.value())")
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True,
                          timeout=120, check=True)
    assert int(done.stdout) == expected


def test_a_dask_backfill_without_a_prefect_api_shows_no_dead_link_and_no_dask_chatter(tmp_path):
    """A temporary Prefect server (Dask's workers need an API) stops with the command: its "View at"
    link is not printed, nor Dask's INFO lines."""
    import os
    import subprocess
    import sys

    from tests.instance import Instance

    u = Instance()
    u.project("p")
    u.flag("f", "p", "2024-12-03T10:00")
    u.land(tmp_path / "data", extracted_at="2025-01-08T00:00")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "backfill", "--from",
                           "2025-01-01", "--to", "2025-01-07", "--task-runner", "dask", "--data-dir",
                           str(tmp_path / "data")], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("10 partitions rebuilt")  # 7 days, weeks 2025-01 and 2025-02, January's usage
    assert "View at" not in done.stderr and "distributed." not in done.stderr and "dashboard" not in done.stderr
    assert len(done.stderr.splitlines()) < 20, done.stderr
