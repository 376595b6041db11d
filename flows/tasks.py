"""The steps of a run and a backfill (``pipeline.runs``) as Prefect tasks, and ``PrefectSteps``, which
gives a flow's sequence those tasks: each calls one library step with plain values (keys, paths)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture, as_completed

from pipeline import mirror, runs
from pipeline.sources import SourceUnavailable

ARTIFACT_KEY = "insights-backfill"


def source_retries() -> dict:
    """The landing's retries (``runs.source_retries``) as a task's options: only while the source
    is unavailable."""
    retries, delays = runs.source_retries()
    return {"retries": retries, "retry_delay_seconds": delays or 0, "retry_condition_fn": worth_retrying}


def worth_retrying(task, task_run, state) -> bool:
    """Whether a failed landing may succeed if tried again: only when the source was unavailable."""
    try:
        state.result()
    except SourceUnavailable:
        return True
    except Exception:  # noqa: BLE001 - anything else fails the same way again
        return False
    return False


land_raw_data = task(runs.land, name="land_raw_data", task_run_name="land-{as_of}", cache_policy=NONE)
plan_partitions = task(runs.plan, name="plan_partitions", task_run_name="plan-{as_of}", cache_policy=NONE)
prepare_histories = task(runs.prepare, name="prepare_histories", task_run_name="prepare", cache_policy=NONE)
build_partitions = task(runs.build, name="build_partitions", task_run_name="build-{label}", cache_policy=NONE)
build_span = task(runs.build_span, name="build_span", task_run_name="build-{span}", cache_policy=NONE)
commit_partitions = task(runs.commit, name="commit_partitions", task_run_name="commit", cache_policy=NONE)
write_document = task(runs.write_document, name="write_document", task_run_name="document-{first}-{last}",
                      cache_policy=NONE)
mirror_before = task(mirror.before, name="mirror_before", task_run_name="mirror-level", cache_policy=NONE)
mirror_push = task(mirror.push, name="mirror_push", task_run_name="mirror-push", cache_policy=NONE)


class PrefectSteps(runs.Steps):
    """The steps as task runs of the flow run that calls them: the landing retried by Prefect, a
    backfill's spans on the flow's task runner (threads, or Dask workers), artifacts in its UI."""

    def land(self, data_dir: str, source: str | None, as_of: dt.date, seed: int) -> dict:
        return land_raw_data.with_options(**source_retries())(data_dir, source, as_of, seed)

    plan = staticmethod(plan_partitions)  # a task is a descriptor: a class attribute would bind it
    prepare = staticmethod(prepare_histories)
    build = staticmethod(build_partitions)
    commit = staticmethod(commit_partitions)
    write_document = staticmethod(write_document)
    mirror_before = staticmethod(mirror_before)
    mirror_push = staticmethod(mirror_push)

    @contextmanager
    def spans(self) -> Iterator[Callable[..., PrefectFuture]]:
        yield build_span.submit

    @staticmethod
    def completed(futures: list[PrefectFuture]) -> Iterable[PrefectFuture]:
        return as_completed(futures)

    def document_written(self, first: dt.date, last: dt.date, written: dict[str, str]) -> None:
        """Point the flow run at the page: a markdown artifact."""
        page, served = written["dashboard"], os.environ.get("INSIGHTS_WEB_URL")
        create_markdown_artifact(
            key="insights-dashboard",
            description=f"The insights of {first.isoformat()} to {last.isoformat()}",
            markdown=f"## Unleash insights, {first.isoformat()} to {last.isoformat()}\n\n"
                     f"* Dashboard (one file, opens from disk): [{page}]({Path(page).absolute().as_uri()})\n"
                     f"* Document: `{written['document']}`\n"
                     + (f"* Served: [{served}]({served}#from={first.isoformat()}&to={last.isoformat()})\n" if served else ""),
        )

    def backfilled(self, first: dt.date, last: dt.date, built: list[dict]) -> None:
        """Sum up partitions, rows and durations in a table artifact."""
        create_table_artifact(
            key=ARTIFACT_KEY,
            table=built,
            description=f"Backfill of {first.isoformat()}..{last.isoformat()}: {len(built)} partitions, "
            f"{sum(b['rows'] for b in built)} rows, "
            f"{sum({b['task']: b['task_seconds'] for b in built}.values()):.1f} task-seconds",
        )
