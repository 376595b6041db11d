"""The run flow: land raw data, build what is missing or stale, write the document for the window.

Scheduled daily (``flows/serve.py``), a run's logical date comes from its scheduled time, not the
wall clock: a late or retried run builds the day it was due for. Every partition missing since
the last successful run is built too, so a run after missed days catches up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.tasks import (
    build_partitions,
    land_raw_data,
    plan_partitions,
    resolve_source,
    source_retries,
    write_document,
)
from pipeline import calendar
from pipeline.lock import exclusive
from pipeline.manifest import RunManifest


def logical_date(scheduled: dt.datetime) -> dt.date:
    """The day a run scheduled at ``scheduled`` builds up to: the last whole UTC day before it."""
    return scheduled.astimezone(calendar.UTC).date() - dt.timedelta(days=1)


def _run_name() -> str:
    date = flow_run.parameters.get("date") or logical_date(flow_run.scheduled_start_time)
    return f"insights-run-{date}"


@flow(name="insights-run", flow_run_name=_run_name, log_prints=True)
def insights_run(date: dt.date | None = None, source: str | None = None, data_dir: str = "data",
                 seed: int = 1, wait_seconds: float = 0) -> dict:
    """Land, build every partition up to ``date`` that is missing or stale, and write the month's document.

    ``date`` defaults to the day before the run's scheduled time (UTC); ``source`` to
    INSIGHTS_SOURCE, else the sample. The data directory is locked for the run; another run
    waits up to ``wait_seconds`` for it.
    """
    as_of = date or logical_date(flow_run.scheduled_start_time)
    name = resolve_source(source, as_of, seed).name
    with exclusive(Path(data_dir), f"run --date {as_of.isoformat()}", wait_seconds):
        return _run(as_of, source, name, data_dir, seed)


def _run(as_of: dt.date, source: str | None, name: str, data_dir: str, seed: int) -> dict:
    with RunManifest(Path(data_dir), "run", {"date": as_of.isoformat(), "source": name, "seed": seed}) as manifest:
        with manifest.step("land") as step:
            step.update(land_raw_data.with_options(**source_retries())(data_dir, source, as_of, seed))
        with manifest.step("build") as step:
            partitions = plan_partitions(data_dir, as_of)
            step.update(build_partitions(data_dir, partitions, f"{len(partitions)}-partitions"))
        first, last = calendar.default_range(as_of)
        with manifest.step("document") as step:
            written = write_document(data_dir, first, last)
            step.update(path=written["document"], dashboard=written["dashboard"])
            step["checks"] = {"instanceInsightsSchema": "passed"}
    get_run_logger().info("built %d partitions; document %s; dashboard %s; manifest %s", len(partitions),
                          written["document"], written["dashboard"], manifest.path)
    return {"date": as_of.isoformat(), "document": written["document"], "dashboard": written["dashboard"],
            "partitions": len(partitions), "manifest": str(manifest.path)}
