"""The job's steps, shared by the command line and the Prefect flows: land, plan, build, export.

Each step takes the data directory and plain values (dates, partition keys), never data frames,
so a flow can hand them to tasks on any runner.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import calendar, checks, commits, document, duck, files, trends
from pipeline.lake import Lake, Landing
from pipeline.trends import histories, inputs
from pipeline.sources import Source
from pipeline.warehouse import (
    SCHEMAS,
    Committed,
    Partition,
    Warehouse,
    code_version,
    day_partition,
    flags_partition,
    month_partition,
    split_by_partition,
    week_partition,
)

log = logging.getLogger(__name__)


class NothingLanded(RuntimeError):
    """A data directory whose lake holds no landed data: there is nothing to build or read."""


def require_landed(data_dir: Path) -> Lake:
    """The data directory's lake, or ``NothingLanded`` when nothing was ever landed there (nothing is created)."""
    lake = Lake(data_dir)
    if lake.generation == 0:
        raise NothingLanded(f"data directory {data_dir} holds no landed data: run `insights run` first (on the "
                            "sample, or with --source for your Unleash), or pass the --data-dir it wrote")
    return lake


def land(data_dir: Path, source: Source) -> Landing:
    """Land everything new from a source into the data directory's lake as one generation."""
    lake = Lake(data_dir)
    with source.session() as session:
        return lake.land(session, source.name)


def first_day(data_dir: Path) -> dt.date | None:
    """The first UTC day the lake holds data for: its earliest event, flag, project or user."""
    lake = Lake(data_dir)
    snapshots = [s for e in ("features", "projects", "users") if (s := lake.latest_snapshot(e))]
    found = [lake.first_event_at()]
    if snapshots:
        con = duck.connect()
        try:
            found.append(con.execute("SELECT min(created_at) FROM read_parquet($files, union_by_name = true)",
                                     {"files": snapshots}).fetchall()[0][0])
        finally:
            con.close()
    return min((instant.astimezone(calendar.UTC).date() for instant in found if instant is not None), default=None)


def partitions_between(first: dt.date, last: dt.date, as_of: dt.date, flag_usage: bool = False) -> list[Partition]:
    """Every day of ``first``..``last`` and every ISO week overlapping it, weeks seen at the end of
    ``as_of``; with ``flag_usage``, every month overlapping it too (``flag_usage_daily``), seen the same."""
    months = [month_partition(m, as_of) for m in calendar.months_overlapping(first, last)] if flag_usage else []
    return [day_partition(d) for d in calendar.days(first, last)] + [
        week_partition(w, as_of) for w in calendar.weeks_overlapping(first, last)
    ] + months


def plan_run(data_dir: Path, as_of: dt.date) -> list[Partition]:
    """The partitions a run for ``as_of`` builds: those from the lake's first day that are missing or
    stale, the month's usage among them, and the ``flags`` table as of ``as_of``."""
    start = first_day(data_dir)
    if start is None or start > as_of:
        return []
    lake, warehouse, code = Lake(data_dir), Warehouse(data_dir), code_version()
    planned = partitions_between(start, as_of, as_of, flag_usage=True) + [flags_partition(as_of)]
    return warehouse.stale(planned, lake, code)


def plan_backfill(data_dir: Path, first: dt.date, last: dt.date) -> list[Partition]:
    """Every partition of ``first``..``last``, its months' usage included; weeks and months are seen as
    of ``last``, or of a later run's date. The ``flags`` table is left as the last run wrote it."""
    require_landed(data_dir)
    as_of = max(last, Warehouse(data_dir).latest_week_snapshot() or last)
    return partitions_between(first, last, as_of, flag_usage=True)


def backfill_months(partitions: list[Partition]) -> dict[str, list[Partition]]:
    """Partitions grouped into the months a backfill builds them by, in order: a day and a month's
    usage in their own month, a week in the month of its Thursday (ISO 8601's rule for its year).
    A month is one pass over the lake: a year is twelve or so tasks, not hundreds."""
    months: dict[str, list[Partition]] = {}
    for partition in sorted(partitions):
        if partition.grain == "day":
            month = calendar.month_id(dt.date.fromisoformat(partition.key))
        elif partition.grain == "week":
            month = calendar.month_id(calendar.week_monday(partition.key) + dt.timedelta(days=3))
        else:
            month = partition.key
        months.setdefault(month, []).append(partition)
    return dict(sorted(months.items()))


TASK_SUMS_ROWS = 1_500_000
"""The most rolled-up metrics rows (one per day, flag, app and environment) a backfill task reads:
about a month of an instance of 10,000 flags evaluated a million times an hour-row a day, which
bounds a task's memory; a smaller instance's months share a task, so that Prefect's cost per task
stays a small share of its backfill."""


def backfill_tasks(data_dir: Path, partitions: list[Partition], most_rows: int = TASK_SUMS_ROWS
                   ) -> dict[str, list[Partition]]:
    """``backfill_months`` in runs of consecutive months whose days hold at most ``most_rows`` rolled-up
    metrics rows together (a month holding more is a task alone), by their span
    (``2025-01`` or ``2025-01..2025-04``), in order."""
    rows: dict[str, int] = {}
    lake = Lake(data_dir)
    months = backfill_months(partitions)
    sums = lake.day_sums_files("client_metrics") | lake.day_sums_files("client_metrics_daily")
    hourly, daily = inputs.metrics_files(lake)
    for day, file in (hourly | daily).items():
        if (month := calendar.month_id(day)) in months:
            rows[month] = rows.get(month, 0) + pq.ParquetFile(sums.get(file, file)).metadata.num_rows
    tasks: list[tuple[list[str], list[Partition]]] = []
    for month, of_month in months.items():
        if tasks and sum(rows.get(m, 0) for m in tasks[-1][0]) + rows.get(month, 0) <= most_rows:
            tasks[-1][0].append(month)
            tasks[-1][1].extend(of_month)
        else:
            tasks.append(([month], list(of_month)))
    return {(months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"): of for months, of in tasks}


def prepare(data_dir: Path) -> str:
    """The folder of the histories every partition shares, for the lake's generation and the code.

    Kept under ``state/prepared/g<generation>-<code version>/``, continued from the folder of the
    generation before where one is kept (``trends.histories``); older folders are removed.
    """
    lake = Lake(data_dir)
    folder = _prepared_folder(lake)
    if not histories.is_prepared(folder):
        earlier = sorted(f for f in folder.parent.glob(f"g*-{code_version()}")
                         if f.name < folder.name and histories.is_prepared(f)) if folder.parent.exists() else []
        shutil.rmtree(folder, ignore_errors=True)  # what a dead run left half written
        try:
            histories.prepare(lake, folder, earlier[-1] if earlier else None)
        except (duckdb.IOException, OSError):  # the earlier folder went meanwhile: replay it all
            shutil.rmtree(folder, ignore_errors=True)
            histories.prepare(lake, folder)
    for other in folder.parent.iterdir():
        if other != folder:
            shutil.rmtree(other, ignore_errors=True)
    return str(folder)


def _prepared_folder(lake: Lake) -> Path:
    return lake.data_dir / "state" / "prepared" / f"g{lake.generation:06d}-{code_version()}"


@dataclass
class Built:
    """What a build wrote: rows per trend of each partition, and offending rows per check (0: passed)."""

    rows: dict[Partition, dict[str, int]] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)


def build(data_dir: Path, partitions: list[Partition], prepared: str | None = None, deferred: bool = False,
          progress: Callable[[int], None] | None = None) -> Built:
    """Compute the given partitions in one pass over the lake (a longer build, in runs of months:
    ``_spans``), check them, then commit them together; a log line a run of months, and
    ``progress`` told how many more partitions are written as each file group is staged.

    ``prepared`` is the folder ``prepare`` returned for the lake as it is; without it, it is
    prepared here (continued from the last run's). A failed error-level check writes nothing. With nothing
    to build, a warehouse a dead build left torn is committed as it stands (see ``commits.settle``).
    ``deferred``: the files are staged and left for ``commit_deferred``, which publishes every
    deferred build of a backfill as one commit (tasks on other workers among them).
    """
    if not partitions:
        if not deferred:
            commits.settle(data_dir)
        return Built()
    prepared = prepared or prepare(data_dir)
    lake, warehouse, code = Lake(data_dir), Warehouse(data_dir), code_version()
    built = Built()
    with (_deferred(data_dir) if deferred else warehouse.batch()) as batch:
        for span in _spans(data_dir, partitions):
            staged_usage = {p.key: str(batch.staged_file(warehouse.path("flag_usage_daily", p)))
                            for p in built.rows if p.grain == "month" and any(s.grain == "flags" for s in span)}
            tables, check_inputs = _compute(lake, span, prepared, warehouse, staged_usage)
            for check, offending in _checked(span, tables, check_inputs).items():
                built.checks[check] = built.checks.get(check, 0) + offending
            built.rows.update(warehouse.write(span, tables, lake, code, batch, progress))
            del tables, check_inputs  # the next span's rows take their place, once these are written
            batch.written()
            log.info("built %d of %d partitions (%s)%s", len(built.rows), len(partitions), _described(span),
                     ", staged for the backfill's commit" if deferred else "")
    return built


def _described(span: list[Partition]) -> str:
    """A run of partitions in words: the first and last day they are as of."""
    days = sorted(p.snapshot_day for p in span)
    return f"as of {days[0]}" + (f" to {days[-1]}" if days[-1] != days[0] else "")


def _spans(data_dir: Path, partitions: list[Partition]) -> list[list[Partition]]:
    """The partitions in the groups a build computes at once. A daily run's (at most two months) is
    one; a longer build (a backfill, a rebuild for new code) is built in ``backfill_tasks``' runs of
    months, so that what it holds is bounded by a run's metrics, not the range, with the ``flags``
    table last, reading the usage the runs staged."""
    flags = [p for p in partitions if p.grain == "flags"]
    dated = [p for p in partitions if p.grain != "flags"]
    runs = list(backfill_tasks(data_dir, dated).values()) if len(backfill_months(dated)) > 2 else [dated]
    return [partitions] if len(runs) == 1 else [*runs, *([flags] if flags else [])]


def _checked(partitions: list[Partition], tables: dict[str, dict[str, pa.Table]], check_inputs: dict[str, pa.Table]
             ) -> dict[str, int]:
    """The checks of partitions computed together, enforced (an error-level failure raises); returns
    the offending rows per check."""
    usage_days = [d for p in partitions if p.grain == "month" for d in calendar.days(p.month.first, p.snapshot_day)]
    results = checks.run({
        **{name: pa.concat_tables(parts.values()) for name, parts in tables.items() if name != "flag_usage_daily"},
        **check_inputs, "built_usage_days": pa.table({"day": pa.array(usage_days, pa.date32())}),
    })
    with ThreadPoolExecutor(2) as pool:  # a month at a time (its keys are its own), two at once
        for month_results in pool.map(lambda month: checks.run({"flag_usage_daily": month}),
                                      tables.get("flag_usage_daily", {}).values()):
            results += month_results
    return checks.enforce(results)


DEFERRED = Path("_staging") / "deferred"
"""Where deferred builds list their staged files (the run lock's holder clears ``_staging`` when it starts)."""


@contextmanager
def _deferred(data_dir: Path) -> Iterator[files.Batch]:
    """A batch whose staged files are kept and listed under ``DEFERRED``, not published."""
    pending = files.Batch(data_dir)
    try:
        yield pending
        staged = [[str(path.relative_to(data_dir)), str(target.relative_to(data_dir))] for path, target in pending.keep()]
        files.write_json(data_dir, Path(data_dir) / DEFERRED / f"{uuid.uuid4().hex}.json", staged)
    finally:
        pending.discard()


def commit_deferred(data_dir: Path) -> int:
    """Publish every deferred build's files as one commit; returns how many files.

    With nothing deferred, a warehouse a dead build left torn is committed as it stands."""
    lists = sorted((Path(data_dir) / DEFERRED).glob("*.json"))
    staged = [(Path(data_dir) / path, Path(data_dir) / target)
              for listed in lists for path, target in json.loads(listed.read_text(encoding="utf-8"))]
    if not staged:
        commits.settle(data_dir)
        return 0
    with Warehouse(data_dir).committing():
        files.publish_staged(staged)
    for listed in lists:
        listed.unlink()
    return len(staged)


def export(data_dir: Path, first: dt.date, last: dt.date) -> dict:
    """The insights document for ``first``..``last`` (both included), validated.

    Partitions of the range the warehouse lacks (or holds stale), from the lake's first day to the
    day of its latest extraction (a later day has no data yet), are built and committed first, weeks
    as of their Sunday or the warehouse's last day; then the document is read as
    ``committed_document`` reads it.
    """
    calendar.check_range(first, last)
    lake, warehouse, code = require_landed(data_dir), Warehouse(data_dir), code_version()
    start, end = first_day(data_dir), min(last, lake.extracted_through)
    as_of = max(end, warehouse.latest_week_snapshot() or end)  # a week past: its Sunday; the latest: its day
    needed = partitions_between(max(first, start), end, as_of) if start and start <= end else []
    build(data_dir, [p for p in needed if not warehouse.is_current(p, lake, code)])
    with commits.reading(data_dir) as state:
        return committed_document(data_dir, first, last,
                                  warehouse.committed(state.version) if state else Committed(0, {}))


def committed_now(data_dir: Path) -> Committed:
    """The warehouse's committed state as it is now (empty where no build committed)."""
    with commits.reading(data_dir) as state:
        return Warehouse(data_dir).committed(state.version) if state else Committed(0, {})


class NotBuilt(RuntimeError):
    """A document needs a partition the committed warehouse does not hold as it needs it."""


def committed_document(data_dir: Path, first: dt.date, last: dt.date, committed: Committed) -> dict:
    """The insights document for ``first``..``last`` as one commit of the warehouse holds it: a slice
    of its stored rows (``document_partitions``); reads nothing but the warehouse, writes nothing.
    ``NotBuilt`` where the commit lacks a partition the range needs (a warehouse half built).
    Validated against ``instanceInsightsSchema``.
    """
    calendar.check_range(first, last)
    needed = document_partitions(first, last, committed)
    if lacking := [p for p in needed if not committed.holds(p)]:
        raise NotBuilt(not_built(lacking))
    con = duck.connect()
    try:
        result = document.assemble(_rows(con, Warehouse(data_dir), needed))
    finally:
        con.close()
    document.validate(result)
    return result


def not_built(lacking: list[Partition]) -> str:
    """Why a range cannot be answered, in one line: the partitions the warehouse lacks, and what builds them."""
    days = sorted(p.snapshot_day for p in lacking)
    return (f"the warehouse does not hold {len(lacking)} partition(s) of the range as of their day "
            f"({lacking[0].grain} {lacking[0].key} first): run `insights backfill --from {days[0]} --to {days[-1]}`")


def document_partitions(first: dt.date, last: dt.date, committed: Committed) -> list[Partition]:
    """The partitions a document for ``first``..``last`` reads (SPEC §3): each day the commit covers
    in the range, and each ISO week overlapping them, whole as of its Sunday, or as of the
    warehouse's last day for the week not over by then. Every one is a partition a build stores."""
    covered_first, covered_last = document_days(first, last, committed)
    return partitions_between(covered_first, covered_last, committed.last_day) if covered_first else []


def document_days(first: dt.date, last: dt.date, committed: Committed) -> tuple[dt.date | None, dt.date | None]:
    """The days of ``first``..``last`` a commit covers, as (first, last); (None, None) when none."""
    if committed.first_day is None:
        return None, None
    covered = max(first, committed.first_day), min(last, committed.last_day)
    return covered if covered[0] <= covered[1] else (None, None)


def _compute(lake: Lake, partitions: list[Partition], prepared: str | None = None, warehouse: Warehouse | None = None,
             staged_usage: dict[str, str] | None = None) -> tuple[dict[str, dict[str, pa.Table]], dict[str, pa.Table]]:
    """Each dataset's rows for the partitions, cut by partition key (an empty table where none), and
    the tables the checks read besides. ``warehouse`` gives the stored usage the ``flags`` table
    reads for the months not among the partitions, ``staged_usage`` the files of months the same
    build staged before (by month), in place of the stored ones."""
    by_grain = {grain: [p for p in partitions if p.grain == grain] for grain in ("day", "week", "month", "flags")}
    flags_as_of = by_grain["flags"][0].snapshot_day if by_grain["flags"] else None
    built_months = {p.key for p in by_grain["month"]}
    usage_files, flags_before = {}, None
    if warehouse and flags_as_of:
        stored = {month: str(path) for month, path in warehouse.stored_usage_files().items()}
        usage_files = {month: path for month, path in sorted({**stored, **(staged_usage or {})}.items())
                       if month not in built_months}
        flags_before = warehouse.flags_before(lake, code_version(), flags_as_of, trends.usage_window_start(flags_as_of))
    computed = trends.compute(lake, [p.snapshot_day for p in by_grain["day"]], [p.week for p in by_grain["week"]],
                              [p.month for p in by_grain["month"]], flags_as_of, Path(prepared) if prepared else None,
                              usage_files, flags_before, trends.CleanupSettings.from_environment())
    result = {}
    for name, dataset in trends.DATASETS.items():
        keys = [p.key for p in by_grain[dataset.grain]]
        if not keys:
            continue
        empty = SCHEMAS[name].empty_table()
        # the month grain's usage stays as computed (dictionary-encoded) until each file is written
        table = computed[name] if dataset.grain == "month" else computed[name].cast(SCHEMAS[name])
        column = dataset.partition_column
        parts = (split_by_partition(table, column) if column else {"latest": table}) if table.num_rows else {}
        result[name] = {k: parts.get(k, empty) for k in keys}
    return result, {name: computed[name] for name in trends.CHECK_INPUTS if name in computed}


def _rows(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, stored: list[Partition]
          ) -> dict[str, duckdb.DuckDBPyRelation]:
    """Each trend's rows for a document, unread: its stored partitions' files (warehouse columns, in
    the warehouse's order)."""
    relations = {}
    for name, trend in trends.TRENDS.items():
        held = warehouse.read(con, name, [p for p in stored if p.grain == trend.grain])
        relations[name] = held if held is not None else con.from_arrow(SCHEMAS[name].empty_table())
    return relations
