"""A run and a backfill, step by step: the same steps whether a Prefect flow runs them or this process.

The daily run lands (retried while the source is unavailable), plans, builds, and writes the
month's document; the backfill prepares the histories every partition shares, builds each run of
months (``job.backfill_tasks``) on a pool of threads, and publishes them as one commit. Each
holds the data directory's lock and writes a run manifest. ``Steps`` runs each step as a plain
call; the Prefect flows (``flows/``) give the same sequences their tasks, so both ways write the
same bytes and the same record. The CLI runs here, in-process, when no Prefect API is configured
(``prefect_api``): a new user does not wait for a temporary Prefect server to start.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from pipeline import calendar, dashboard, document, job, mirror
from pipeline.lake import Lake
from pipeline.lock import exclusive
from pipeline.manifest import RunManifest
from pipeline.sources import Source, SourceUnavailable, open_source
from pipeline.warehouse import Partition

log = logging.getLogger(__name__)


def prefect_api() -> str | None:
    """The Prefect API this user configured: ``PREFECT_API_URL`` in the environment, else in the
    active Prefect profile (``$PREFECT_HOME/profiles.toml``, as ``prefect config set`` writes it);
    None where there is none (Prefect would start a temporary server). Read without importing
    Prefect, which takes seconds."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    return profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL") or None


def source_retries() -> tuple[int, list[float]]:
    """How often a landing is tried again while the source is unavailable, and the seconds before
    each try: INSIGHTS_SOURCE_RETRIES (default 3) after INSIGHTS_SOURCE_RETRY_DELAYS (default
    "2,10,30", the last repeated). A source that refuses (a bad password, a missing grant or
    column) fails at once."""
    retries = int(os.environ.get("INSIGHTS_SOURCE_RETRIES", "3"))
    delays = [float(d) for d in os.environ.get("INSIGHTS_SOURCE_RETRY_DELAYS", "2,10,30").split(",")]
    return retries, (delays + delays[-1:] * retries)[:retries]


def resolve_source(source: str | None, as_of: dt.date, seed: int) -> Source:
    """The source a run reads: the one named, else INSIGHTS_SOURCE, else the sample.

    A scheduled deployment passes no source, so a database URL (and its password) stays in the
    serving process's environment and never becomes a recorded flow parameter.
    """
    return open_source(source or os.environ.get("INSIGHTS_SOURCE") or "sample", as_of, seed)


def land(data_dir: str, source: str | None, as_of: dt.date, seed: int) -> dict:
    """Land everything new from the source; what it landed, for the manifest."""
    chosen = resolve_source(source, as_of, seed)
    landing = job.land(Path(data_dir), chosen)
    return {
        "generation": landing.generation if landing.changed else None,
        "rows": landing.rows,
        "absent": landing.absent,
        "watermarks": Lake(Path(data_dir)).watermarks,
        **({"requests": chosen.counts} if getattr(chosen, "counts", None) else {}),  # an Admin API source's
    }


def plan(data_dir: str, as_of: dt.date) -> list[Partition]:
    """The partitions a run for ``as_of`` must build: missing or stale ones."""
    return job.plan_run(Path(data_dir), as_of)


def prepare(data_dir: str) -> str:
    """Compute the histories all partitions share, once; returns their folder."""
    return job.prepare(Path(data_dir))


def build(data_dir: str, partitions: list[Partition], label: str) -> dict:
    """Build partitions in one pass; rows written per partition and the checks' findings."""
    built = job.build(Path(data_dir), partitions)
    return {"partitions": {f"{p.grain}={p.key}": sum(rows.values()) for p, rows in built.rows.items()},
            "checks": built.checks}


_PROGRESS: dict[str, Callable[[str, int], None]] = {}
"""The progress of the backfill of each data directory this process runs, told by its spans as
they write (a span built in another process, a Dask worker's, is told when it ends)."""


def build_span(data_dir: str, span: str, partitions: list[Partition], prepared: str) -> list[dict]:
    """Build a run of months' partitions (``job.backfill_tasks``) in one pass from the prepared
    histories, staged for the backfill's one commit (``commit``); each one's key and rows, and the
    span's seconds."""
    began = time.perf_counter()
    told = _PROGRESS.get(data_dir)
    built = job.build(Path(data_dir), partitions, prepared, deferred=True,
                      progress=(lambda n: told(span, n)) if told else None)
    seconds = round(time.perf_counter() - began, 3)
    failed = sum(1 for offending in built.checks.values() if offending)
    return [{"partition": f"{p.grain}={p.key}", "task": span, "rows": sum(rows.values()), "failed_checks": failed,
             "task_seconds": seconds} for p, rows in sorted(built.rows.items())]


def commit(data_dir: str) -> int:
    """Publish every partition the backfill's spans staged, as one commit; how many files."""
    return job.commit_deferred(Path(data_dir))


def write_document(data_dir: str, first: dt.date, last: dt.date) -> dict[str, str]:
    """Write the validated document for ``first``..``last`` and its dashboard page beside it; both paths."""
    stem = Path(data_dir) / "documents" / f"insights_{first.isoformat()}_{last.isoformat()}"
    result = job.export(Path(data_dir), first, last)
    document.write(Path(data_dir), stem.with_suffix(".json"), result)
    dashboard.write_file(Path(data_dir), stem.with_suffix(".html"), dashboard.range_page(Path(data_dir), first, last, result))
    return {"document": str(stem.with_suffix(".json")), "dashboard": str(stem.with_suffix(".html"))}


class Steps:
    """The steps as plain calls in this process: the landing retried as ``source_retries`` says, a
    backfill's spans on ``concurrency`` threads. The flows' steps (``flows.tasks``) are Prefect tasks."""

    def __init__(self, concurrency: int = 2):
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None

    def land(self, data_dir: str, source: str | None, as_of: dt.date, seed: int) -> dict:
        retries, delays = source_retries()
        for attempt, delay in enumerate(delays[:retries], start=2):
            try:
                return land(data_dir, source, as_of, seed)
            except SourceUnavailable as error:
                log.warning("%s: try %d of %d in %g s", error, attempt, retries + 1, delay)
                time.sleep(delay)
        return land(data_dir, source, as_of, seed)

    plan = staticmethod(plan)
    prepare = staticmethod(prepare)
    build = staticmethod(build)
    commit = staticmethod(commit)
    write_document = staticmethod(write_document)
    mirror_before = staticmethod(mirror.before)
    mirror_push = staticmethod(mirror.push)

    @contextmanager
    def spans(self) -> Iterator[Callable[..., Future]]:
        """A way to start ``build_span`` calls at once, open while the block runs."""
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="span") as pool:
            yield lambda *args: pool.submit(build_span, *args)

    @staticmethod
    def completed(futures: list[Future]) -> Iterable[Future]:
        return as_completed(futures)

    def document_written(self, first: dt.date, last: dt.date, written: dict[str, str]) -> None:
        """Where a flow points its run at the page (nothing here)."""

    def backfilled(self, first: dt.date, last: dt.date, built: list[dict]) -> None:
        """Where a flow sums up the backfill (nothing here: the manifest holds it)."""


def run(steps: Steps, as_of: dt.date, source: str | None, data_dir: str, seed: int = 1,
        wait_seconds: float = 0, mirror_to: str | None = None) -> dict:
    """Land, build every partition up to ``as_of`` that is missing or stale, and write the month's
    document, holding the data directory; another run is waited for up to ``wait_seconds``. With a
    mirror (``mirror_to``, else INSIGHTS_MIRROR), the directory is brought level with it first and
    its commit pushed after (``mirror.MirrorFailed`` where that fails, the run's work kept)."""
    name = resolve_source(source, as_of, seed).name
    mirror_to = mirror.mirror_url(mirror_to)
    with exclusive(Path(data_dir), f"run --date {as_of.isoformat()}", wait_seconds):
        if mirror_to:
            log.info("%s", steps.mirror_before(data_dir, mirror_to))
        with RunManifest(Path(data_dir), "run", {"date": as_of.isoformat(), "source": name, "seed": seed}) as manifest:
            with manifest.step("land") as step:
                step.update(steps.land(data_dir, source, as_of, seed))
            with manifest.step("build") as step:
                partitions = steps.plan(data_dir, as_of)
                step.update(steps.build(data_dir, partitions, f"{len(partitions)}-partitions"))
            first, last = calendar.default_range(as_of)
            with manifest.step("document") as step:
                written = steps.write_document(data_dir, first, last)
                step.update(path=written["document"], dashboard=written["dashboard"])
                step["checks"] = {"instanceInsightsSchema": "passed"}
            steps.document_written(first, last, written)
            pushed = _mirrored(steps, data_dir, mirror_to, manifest)
        log.info("built %d partitions; document %s; dashboard %s; manifest %s", len(partitions),
                 written["document"], written["dashboard"], manifest.path)
        return _pushed({"date": as_of.isoformat(), "document": written["document"], "dashboard": written["dashboard"],
                        "partitions": len(partitions), "manifest": str(manifest.path)}, pushed)


def backfill(steps: Steps, first: dt.date, last: dt.date, data_dir: str,
             progress: Callable[[int, int], None] | None = None, wait_seconds: float = 0,
             mirror_to: str | None = None) -> dict:
    """Recompute every day and ISO week of ``first``..``last`` (the same range gives the same bytes),
    holding the data directory; ``progress`` is told (partitions built more, of how many) as they
    are. A mirror as ``run``'s: a new machine's empty directory is restored from it first."""
    parameters = {"from": first.isoformat(), "to": last.isoformat()}
    mirror_to = mirror.mirror_url(mirror_to)
    with exclusive(Path(data_dir), f"backfill --from {first.isoformat()} --to {last.isoformat()}", wait_seconds):
        if mirror_to:
            log.info("%s", steps.mirror_before(data_dir, mirror_to))
            job.require_landed(Path(data_dir))
        with RunManifest(Path(data_dir), "backfill", parameters) as manifest:
            with manifest.step("build") as step:
                partitions = job.plan_backfill(Path(data_dir), first, last)
                prepared = steps.prepare(data_dir)
                built: list[dict] = []
                with _told(data_dir, len(partitions), progress) as told, steps.spans() as start:
                    futures = [start(data_dir, span, of_span, prepared)
                               for span, of_span in job.backfill_tasks(Path(data_dir), partitions).items()]
                    for future in steps.completed(futures):
                        span = future.result()
                        built += span
                        if span:
                            told(span[0]["task"], len(span), ended=True)
                built.sort(key=lambda b: b["partition"])
                step["files_committed"] = steps.commit(data_dir)  # every partition at once: readers see one change
                step["partitions"] = {b["partition"]: b["rows"] for b in built}
            steps.backfilled(first, last, built)
            pushed = _mirrored(steps, data_dir, mirror_to, manifest)
        return _pushed({"partitions": len(built), "manifest": str(manifest.path)}, pushed)


def _mirrored(steps: Steps, data_dir: str, mirror_to: str | None,
              manifest: RunManifest) -> dict | mirror.MirrorError | None:
    """Push the commit to ``mirror_to`` (if any) as the manifest's ``mirror`` step: what was uploaded,
    or the error, recorded with its outcome (the run's own status stays its work's)."""
    if not mirror_to:
        return None
    with manifest.step("mirror") as step:
        try:
            pushed = steps.mirror_push(data_dir, mirror_to)
        except mirror.MirrorError as error:
            step.update(outcome="failed", error=str(error))
            return error
        step.update(outcome="succeeded", **pushed)
        return pushed


def _pushed(result: dict, pushed: dict | mirror.MirrorError | None) -> dict:
    """``result``, with what was mirrored; ``mirror.MirrorFailed`` where the push failed."""
    if isinstance(pushed, mirror.MirrorError):
        raise mirror.MirrorFailed(pushed, result)
    return {**result, "mirrored": pushed} if pushed else result


@contextmanager
def _told(data_dir: str, total: int, progress: Callable[[int, int], None] | None) -> Iterator[Callable[..., None]]:
    """What tells ``progress`` of a backfill's partitions: a span's as it writes them (where it runs
    in this process), the rest of a span's when it ends; once each."""
    lock, told = threading.Lock(), {}

    def tell(span: str, count: int, ended: bool = False) -> None:
        with lock:
            more = count - told.get(span, 0) if ended else count
            told[span] = count if ended else told.get(span, 0) + count
            if progress is not None and more > 0:
                progress(more, total)

    _PROGRESS[data_dir] = tell
    try:
        yield tell
    finally:
        _PROGRESS.pop(data_dir, None)
