"""The backfill flow: recompute every partition of a date range from the lake, a run of months a task.

One parent flow run; the histories all partitions share are prepared once, then one task per run
of consecutive months (their days, the weeks whose Thursday they hold, their usage:
``job.backfill_tasks``), as many months as hold about a month of a large instance's metrics, runs
on the flow's task runner: a thread pool of ``concurrency`` workers by default, or Dask
(``task_runner("dask", address)``). Tasks of months rather than partitions keep Prefect's cost
per task (a few tenths of a second) a small share of the backfill, and each task's memory is
bounded by the metrics it reads, not the range. Tasks take partition keys and paths, never data frames, so they travel to any
worker. Each task stages its files; when all have succeeded they are published as one commit, so
readers see the warehouse before the backfill or after it, and a failed backfill changes nothing.
A table artifact sums up partitions, rows and durations.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from typing import Iterator

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.tasks import ARTIFACT_KEY, PrefectSteps
from pipeline import runs
from pipeline.cli import progress_bar

__all__ = ["ARTIFACT_KEY", "insights_backfill", "shared_prefect_api", "task_runner"]


def task_runner(kind: str = "threads", address: str | None = None, concurrency: int = 2):
    """The task runner a backfill runs its partitions on.

    ``threads``: a pool of ``concurrency`` threads. ``dask``: the Dask cluster at ``address``
    (``tcp://scheduler:8786``), or a local one of ``concurrency`` worker processes.
    """
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=concurrency)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": concurrency, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    raise ValueError(f"unknown task runner {kind!r}: use threads or dask")


@contextmanager
def shared_prefect_api(needed: bool) -> Iterator[None]:
    """With no Prefect server configured, one temporary server whose URL worker processes inherit.

    Prefect's own temporary server lives inside this process, so Dask worker processes would each
    start another; exporting PREFECT_API_URL before the cluster starts makes them report to one.
    """
    if not needed or os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            try:
                yield
            finally:
                from prefect.events.worker import EventsWorker
                from prefect.logging.handlers import APILogWorker

                APILogWorker.drain_all()
                EventsWorker.drain_all()
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


@flow(name="insights-backfill", flow_run_name="insights-backfill-{first}-{last}",
      task_runner=ThreadPoolTaskRunner(max_workers=2))
def insights_backfill(first: dt.date, last: dt.date, data_dir: str = "data", show_progress: bool = False,
                      wait_seconds: float = 0, mirror: str | None = None) -> dict:
    """Recompute every day and ISO week of ``first``..``last``; the same range gives the same bytes.
    ``mirror``: an s3:// URL the commit is pushed to (default INSIGHTS_MIRROR)."""
    with progress_bar(show_progress) as progress:  # the command line's, where it asked for one
        return runs.backfill(PrefectSteps(), first, last, data_dir, progress, wait_seconds, mirror)
