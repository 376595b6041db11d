"""The Prefect tasks the flows share: each calls one library step with plain values (keys, paths)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from pipeline import dashboard, document, job
from pipeline.lake import Lake
from pipeline.sources import Source, SourceUnavailable, open_source
from pipeline.warehouse import Partition


def source_retries() -> dict:
    """Retries of the steps that talk to the source: INSIGHTS_SOURCE_RETRIES (default 3) after
    INSIGHTS_SOURCE_RETRY_DELAYS seconds (default "2,10,30", the last repeated), only while the
    source is unavailable: a source that refuses (a bad password, a missing grant or column) fails
    at once."""
    retries = int(os.environ.get("INSIGHTS_SOURCE_RETRIES", "3"))
    delays = [float(d) for d in os.environ.get("INSIGHTS_SOURCE_RETRY_DELAYS", "2,10,30").split(",")]
    return {"retries": retries, "retry_delay_seconds": (delays + delays[-1:] * retries)[:retries] or 0,
            "retry_condition_fn": worth_retrying}


def worth_retrying(task, task_run, state) -> bool:
    """Whether a failed landing may succeed if tried again: only when the source was unavailable."""
    try:
        state.result()
    except SourceUnavailable:
        return True
    except Exception:  # noqa: BLE001 - anything else fails the same way again
        return False
    return False


def resolve_source(source: str | None, as_of: dt.date, seed: int) -> Source:
    """The source a run reads: the one named, else INSIGHTS_SOURCE, else the sample.

    A scheduled deployment passes no source, so a database URL (and its password) stays in the
    serving process's environment and never becomes a recorded flow parameter.
    """
    return open_source(source or os.environ.get("INSIGHTS_SOURCE") or "sample", as_of, seed)


@task(task_run_name="land-{as_of}", cache_policy=NONE)
def land_raw_data(data_dir: str, source: str | None, as_of: dt.date, seed: int) -> dict:
    """Land everything new from the source; retried, since it is the step that talks to the source."""
    chosen = resolve_source(source, as_of, seed)
    landing = job.land(Path(data_dir), chosen)
    return {
        "generation": landing.generation if landing.changed else None,
        "rows": landing.rows,
        "absent": landing.absent,
        "watermarks": Lake(Path(data_dir)).watermarks,
        **({"requests": chosen.counts} if getattr(chosen, "counts", None) else {}),  # an Admin API source's
    }


@task(task_run_name="plan-{as_of}", cache_policy=NONE)
def plan_partitions(data_dir: str, as_of: dt.date) -> list[Partition]:
    """The partitions a run for ``as_of`` must build: missing or stale ones."""
    return job.plan_run(Path(data_dir), as_of)


@task(task_run_name="prepare", cache_policy=NONE)
def prepare_histories(data_dir: str) -> str:
    """Compute the histories all partitions share, once; returns their folder."""
    return job.prepare(Path(data_dir))


@task(task_run_name="build-{label}", cache_policy=NONE)
def build_partitions(data_dir: str, partitions: list[Partition], label: str) -> dict:
    """Build partitions in one pass; returns rows written per partition and the checks' findings."""
    built = job.build(Path(data_dir), partitions)
    return {"partitions": {f"{p.grain}={p.key}": sum(rows.values()) for p, rows in built.rows.items()},
            "checks": built.checks}


@task(task_run_name="build-{span}", cache_policy=NONE)
def build_span(data_dir: str, span: str, partitions: list[Partition], prepared: str) -> list[dict]:
    """Build a run of months' partitions (``job.backfill_tasks``) in one pass from the prepared
    histories, staged for the backfill's one commit (``commit_partitions``); returns each one's
    key and rows, and the task's seconds."""
    began = time.perf_counter()
    built = job.build(Path(data_dir), partitions, prepared, deferred=True)
    seconds = round(time.perf_counter() - began, 3)
    failed = sum(1 for offending in built.checks.values() if offending)
    return [{"partition": f"{p.grain}={p.key}", "task": span, "rows": sum(rows.values()), "failed_checks": failed,
             "task_seconds": seconds} for p, rows in sorted(built.rows.items())]


@task(task_run_name="commit", cache_policy=NONE)
def commit_partitions(data_dir: str) -> int:
    """Publish every partition the backfill's tasks staged, as one commit; returns how many files."""
    return job.commit_deferred(Path(data_dir))


@task(task_run_name="document-{first}-{last}", cache_policy=NONE)
def write_document(data_dir: str, first: dt.date, last: dt.date) -> dict[str, str]:
    """Write the validated document for ``first``..``last`` and its dashboard page beside it, and
    point the flow run at the page (a markdown artifact); returns both paths."""
    stem = Path(data_dir) / "documents" / f"insights_{first.isoformat()}_{last.isoformat()}"
    result = job.export(Path(data_dir), first, last)
    document.write(Path(data_dir), stem.with_suffix(".json"), result)
    dashboard.write_file(Path(data_dir), stem.with_suffix(".html"), dashboard.range_page(Path(data_dir), first, last, result))
    served = os.environ.get("INSIGHTS_WEB_URL")
    create_markdown_artifact(
        key="insights-dashboard",
        description=f"The insights of {first.isoformat()} to {last.isoformat()}",
        markdown=f"## Unleash insights, {first.isoformat()} to {last.isoformat()}\n\n"
                 f"* Dashboard (one file, opens from disk): [{stem.with_suffix('.html')}]({stem.with_suffix('.html').absolute().as_uri()})\n"
                 f"* Document: `{stem.with_suffix('.json')}`\n"
                 + (f"* Served: [{served}]({served}#from={first.isoformat()}&to={last.isoformat()})\n" if served else ""),
    )
    return {"document": str(stem.with_suffix(".json")), "dashboard": str(stem.with_suffix(".html"))}
