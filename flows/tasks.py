"""The Prefect tasks the flows share: each calls one library step with plain values."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from pipeline import document, job
from pipeline.lake import Lake
from pipeline.sources import open_source
from pipeline.warehouse import Partition


def source_retries() -> dict:
    """Retries of the steps that talk to the source: INSIGHTS_SOURCE_RETRIES (default 3) after
    INSIGHTS_SOURCE_RETRY_DELAYS seconds (default "2,10,30", the last repeated)."""
    retries = int(os.environ.get("INSIGHTS_SOURCE_RETRIES", "3"))
    delays = [float(d) for d in os.environ.get("INSIGHTS_SOURCE_RETRY_DELAYS", "2,10,30").split(",")]
    return {"retries": retries, "retry_delay_seconds": (delays + delays[-1:] * retries)[:retries] or 0}


@task(task_run_name="land-{source}", cache_policy=NONE)
def land_raw_data(data_dir: str, source: str, as_of: dt.date, seed: int) -> dict:
    """Land everything new from the source; retried, since it is the step that talks to the source."""
    landing = job.land(Path(data_dir), open_source(source, as_of, seed))
    return {
        "generation": landing.generation if landing.changed else None,
        "rows": landing.rows,
        "absent": landing.absent,
        "watermarks": Lake(Path(data_dir)).watermarks,
    }


@task(task_run_name="plan-{as_of}", cache_policy=NONE)
def plan_partitions(data_dir: str, as_of: dt.date) -> list[Partition]:
    """The partitions a run for ``as_of`` must build: missing or stale ones."""
    return job.plan_run(Path(data_dir), as_of)


@task(task_run_name="build-{label}", cache_policy=NONE)
def build_partitions(data_dir: str, partitions: list[Partition], label: str) -> dict[str, int]:
    """Build partitions in one pass; returns rows written per partition."""
    written = job.build(Path(data_dir), partitions)
    return {f"{p.grain}={p.key}": sum(rows.values()) for p, rows in written.items()}


@task(task_run_name="document-{first}-{last}", cache_policy=NONE)
def write_document(data_dir: str, first: dt.date, last: dt.date) -> str:
    """Write the validated document for ``first``..``last``; returns its path."""
    target = Path(data_dir) / "documents" / f"insights_{first.isoformat()}_{last.isoformat()}.json"
    document.write(Path(data_dir), target, job.export(Path(data_dir), first, last))
    return str(target)
