"""The run flow: land raw data, build what is missing or stale, write the document for the window.

Scheduled daily (``flows/serve.py``), a run's logical date comes from its scheduled time, not the
wall clock: a late or retried run builds the day it was due for. Every partition missing since
the last successful run is built too, so a run after missed days catches up. The steps are
``pipeline.runs.run``'s, each a task run.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow
from prefect.runtime import flow_run

from flows.tasks import PrefectSteps
from pipeline import calendar, runs


def logical_date(scheduled: dt.datetime) -> dt.date:
    """The day a run scheduled at ``scheduled`` builds up to: the last whole UTC day before it."""
    return scheduled.astimezone(calendar.UTC).date() - dt.timedelta(days=1)


def _run_name() -> str:
    date = flow_run.parameters.get("date") or logical_date(flow_run.scheduled_start_time)
    return f"insights-run-{date}"


@flow(name="insights-run", flow_run_name=_run_name, log_prints=True)
def insights_run(date: dt.date | None = None, source: str | None = None, data_dir: str = "data",
                 seed: int = 1, wait_seconds: float = 0, mirror: str | None = None) -> dict:
    """Land, build every partition up to ``date`` that is missing or stale, and write the month's document.

    ``date`` defaults to the day before the run's scheduled time (UTC); ``source`` to
    INSIGHTS_SOURCE, else the sample. The data directory is locked for the run; another run
    waits up to ``wait_seconds`` for it. ``mirror``: an s3:// URL the directory is brought level
    with first and its commit pushed to after (default INSIGHTS_MIRROR); its failure fails the
    flow run, the run's work kept.
    """
    as_of = date or logical_date(flow_run.scheduled_start_time)
    return runs.run(PrefectSteps(), as_of, source, data_dir, seed, wait_seconds, mirror)
