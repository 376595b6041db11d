"""The run flow: land raw data, build what is missing or stale, write the document for the window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from pipeline import calendar, document, job
from pipeline.manifest import RunManifest
from pipeline.sources import open_source
from pipeline.warehouse import Partition


@task(retries=3, retry_delay_seconds=[2, 10, 30], task_run_name="land-{source}", cache_policy=NONE)
def land_raw_data(data_dir: str, source: str, as_of: dt.date, seed: int) -> dict:
    """Land everything new from the source; retried, since it is the step that talks to the source."""
    landing = job.land(Path(data_dir), open_source(source, as_of, seed))
    return {"generation": landing.generation if landing.changed else None, "rows": landing.rows, "absent": landing.absent}


@task(task_run_name="plan-{as_of}", cache_policy=NONE)
def plan_partitions(data_dir: str, as_of: dt.date) -> list[Partition]:
    return job.plan_run(Path(data_dir), as_of)


@task(task_run_name="build-{label}", cache_policy=NONE)
def build_partitions(data_dir: str, partitions: list[Partition], label: str) -> dict[str, int]:
    written = job.build(Path(data_dir), partitions)
    return {f"{p.grain}={p.key}": sum(rows.values()) for p, rows in written.items()}


@task(task_run_name="document-{first}-{last}", cache_policy=NONE)
def write_document(data_dir: str, first: dt.date, last: dt.date) -> str:
    target = Path(data_dir) / "documents" / f"insights_{first.isoformat()}_{last.isoformat()}.json"
    document.write(Path(data_dir), target, job.export(Path(data_dir), first, last))
    return str(target)


@flow(name="insights-run", flow_run_name="insights-run-{date}", log_prints=True)
def insights_run(date: dt.date | None = None, source: str = "sample", data_dir: str = "data", seed: int = 1) -> dict:
    """Land, build every partition up to ``date`` that is missing or stale, and write the month's document."""
    logger = get_run_logger()
    as_of = date or calendar.today()
    manifest = RunManifest(Path(data_dir), "run", {"date": as_of.isoformat(), "source": source, "seed": seed})
    try:
        with manifest.step("land") as step:
            step.update(land_raw_data(data_dir, source, as_of, seed))
        with manifest.step("build") as step:
            partitions = plan_partitions(data_dir, as_of)
            step["partitions"] = build_partitions(data_dir, partitions, f"{len(partitions)}-partitions")
        first, last = calendar.default_range(as_of)
        with manifest.step("document") as step:
            step["path"] = write_document(data_dir, first, last)
    except Exception as error:
        manifest.finish("failed", f"{type(error).__name__}: {error}")
        raise
    path = manifest.finish("succeeded")
    logger.info("built %d partitions; document %s; manifest %s", len(partitions), step["path"], path)
    return {"document": step["path"], "partitions": len(partitions), "manifest": str(path)}
