"""The Parquet warehouse: one dataset per trend and flag-level table, a file per partition or per
month of daily partitions, swapped in atomically.

Layout under ``<data dir>/warehouse/``::

    user_trends/month=2025-01/part-0.parquet          the month's days, a row each (SPEC §5)
    project_flag_trends/week=2025-05/part-0.parquet
    flag_usage_daily/month=2025-01/part-0.parquet
    flags/part-0.parquet                              one file, as of the latest run's date
    flag_lifecycle/part-0.parquet                     one file, as of the same date

Every row holds its partition column too (``day`` or ``week``), so a single file reads alone. A
daily trend keeps a month's days in one file (a year is twelve files, not 365 one-row ones); a
day's build rewrites its month's file with the rows it holds of the other days. A weekly trend
keeps a file a week: a backfill's tasks each build whole months, and the weeks of an ISO year
span many tasks, which would each rewrite one year file. Key-value metadata on each file names the
build that wrote it: the partition (or each day of the month), its snapshot moment, the lake
generation its inputs date from and the code version; the same inputs give the same bytes,
whichever run (daily, catch-up or backfill) writes them. ``<data dir>/state/
partitions/<grain>=<key>.json`` records what each partition was built from, a month's days in one
``days=YYYY-MM.json`` as they share their files (one file each, so tasks building partitions in
parallel never share one: a task builds whole months), and a run rebuilds a partition only when
it is missing, its snapshot moment moved, new lake data reaches it, or the code changed.

A build's files and records are published together as one commit (``pipeline.commits``); a reader
holding the commit lock sees the warehouse as one ``Committed`` state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import commits, files, slices
from pipeline.calendar import MonthSnapshot, WeekSnapshot, end_of_day, month_snapshot, week_snapshot
from pipeline.lake import Lake
from pipeline.trends import DATASETS, CleanupSettings

TIME = pa.timestamp("us", tz="UTC")
COUNT = pa.int64()

SCHEMAS: dict[str, pa.Schema] = {
    "user_trends": pa.schema([("day", pa.date32()), ("date", TIME), ("total", COUNT), ("active", COUNT), ("inactive", COUNT)]),
    "flag_trends": pa.schema(
        [("day", pa.date32()), ("date", TIME), ("total", COUNT), ("active", COUNT), ("stale", COUNT),
         ("potentially_stale", COUNT)]
    ),
    "project_flag_trends": pa.schema(
        [("week", pa.string()), ("date", TIME), ("project", pa.string()), ("total", COUNT), ("active", COUNT),
         ("stale", COUNT), ("potentially_stale", COUNT), ("health", COUNT), ("technical_debt", COUNT),
         ("time_to_production", pa.float64()), ("users", COUNT)]
    ),
    "metrics_summary_trends": pa.schema(
        [("week", pa.string()), ("date", TIME), ("project", pa.string()), ("total_requests", COUNT),
         ("total_yes", COUNT), ("total_no", COUNT), ("total_apps", COUNT), ("total_flags", COUNT),
         ("total_environments", COUNT)]
    ),
    "environment_type_trends": pa.schema(
        [("week", pa.string()), ("date", TIME), ("environment_type", pa.string()), ("total_updates", COUNT)]
    ),
    "lifecycle_trends": pa.schema(
        [("week", pa.string()), ("date", TIME), ("project", pa.string()), ("new_production_flags", COUNT)]
    ),
    "creation_archive_trends": pa.schema(
        [("week", pa.string()), ("date", TIME), ("project", pa.string()),
         ("created_flags", pa.map_(pa.string(), COUNT)), ("archived_flags", COUNT)]
    ),
    "flag_usage_daily": pa.schema(
        [("month", pa.string()), ("day", pa.date32()), ("flag", pa.string()), ("environment", pa.string()),
         ("environment_type", pa.string()), ("app_name", pa.string()), ("project", pa.string()), ("type", pa.string()), ("yes", COUNT), ("no", COUNT)]
    ),
    "flags": pa.schema(
        [("as_of", pa.date32()), ("flag", pa.string()), ("incarnation", COUNT), ("project", pa.string()),
         ("type", pa.string()), ("created_at", TIME), ("archived_at", TIME), ("deleted_at", TIME),
         ("stale", pa.bool_()), ("potentially_stale", pa.bool_()), ("lifecycle_stage", pa.string()),
         ("lifecycle_stage_at", TIME), ("first_production_enabled_at", TIME),
         ("enabled_environments", pa.list_(pa.string())), ("last_evaluated_day", pa.date32()),
         ("last_evaluated_production_day", pa.date32()), ("evaluations_7d", COUNT), ("evaluations_30d", COUNT),
         ("evaluations_90d", COUNT), ("cleanup_reason", pa.string())]
    ),
    "flag_lifecycle": pa.schema(
        [("as_of", pa.date32()), ("flag", pa.string()), ("project", pa.string()), ("category", pa.string()),
         ("stage", pa.string()), ("entered_at", TIME), ("current", pa.bool_()), ("is_new", pa.bool_()),
         ("days", COUNT)]
    ),
    "unknown_flags": pa.schema(
        [("as_of", pa.date32()), ("flag", pa.string()), ("status", pa.string()), ("deleted_at", TIME),
         ("first_evaluated_day", pa.date32()), ("last_evaluated_day", pa.date32()), ("evaluations_7d", COUNT),
         ("evaluations_30d", COUNT), ("apps", pa.list_(pa.string()))]
    ),
}


STATISTICS: dict[str, list[str]] = {"flag_usage_daily": ["day"]}
"""The columns with min/max statistics in a dataset's files, where not every column: a month of
usage is read by day (a row group spans days); its flags and apps span their whole range in every
row group, so their statistics would cost the write and prune nothing."""

PARTITION_KEY = {"day": re.compile(r"\d{4}-\d{2}-\d{2}"), "week": re.compile(r"\d{4}-\d{2}"),
                 "month": re.compile(r"\d{4}-\d{2}"), "flags": re.compile("latest")}


@dataclass(frozen=True, order=True)
class Partition:
    """One unit of work: a day (both daily trends), a week (the five weekly trends), a month (its
    days of ``flag_usage_daily``) or the ``flags`` table (key ``latest``).

    ``snapshot_day`` is the day whose end the partition is a snapshot of: the day itself, the
    week's Sunday or the month's last day (or the as-of day while it is not over), the day the
    ``flags`` table is as of.
    """

    grain: str
    key: str
    snapshot_day: dt.date

    @property
    def datasets(self) -> list[str]:
        """The datasets with a file in this partition."""
        return [d.name for d in DATASETS.values() if d.grain == self.grain]

    @property
    def week(self) -> WeekSnapshot:
        return week_snapshot(self.key, self.snapshot_day)

    @property
    def month(self) -> MonthSnapshot:
        return month_snapshot(self.key, self.snapshot_day)


def day_partition(day: dt.date) -> Partition:
    return Partition("day", day.isoformat(), day)


def week_partition(week: str, as_of: dt.date) -> Partition:
    return Partition("week", week, week_snapshot(week, as_of).snapshot_day)


def month_partition(month: str, as_of: dt.date) -> Partition:
    return Partition("month", month, month_snapshot(month, as_of).snapshot_day)


def flags_partition(as_of: dt.date) -> Partition:
    """The ``flags`` table as of the end of ``as_of``."""
    return Partition("flags", "latest", as_of)


def code_version() -> str:
    """A short hash of every query and of the trend code: partitions built by other code are rebuilt."""
    digest = hashlib.sha256()
    roots = [resources.files("sql"), resources.files("sql").joinpath("trends"), resources.files("sql").joinpath("flags"),
             resources.files("pipeline.trends")]
    for root in roots:
        for item in sorted(root.iterdir(), key=lambda p: p.name):
            if item.name.endswith((".sql", ".py")):
                digest.update(item.name.encode())
                digest.update(item.read_bytes())
    return digest.hexdigest()[:12]


def input_generation(lake: Lake, snapshot_day: dt.date) -> int:
    """The newest lake generation whose landed data can change a snapshot at the end of ``snapshot_day``."""
    return lake.newest_reaching(end_of_day(snapshot_day))


@dataclass(frozen=True)
class Committed:
    """The warehouse as one commit left it: every partition's record, by (grain, key).

    ``version`` names the commit (0: nothing committed). The warehouse *covers* the days from its
    first daily partition to the latest snapshot day of any partition (the day the last run or
    backfill built up to).
    """

    version: int
    records: dict[tuple[str, str], dict]

    @property
    def first_day(self) -> dt.date | None:
        days = [key for grain, key in self.records if grain == "day"]
        return dt.date.fromisoformat(min(days)) if days else None

    @property
    def last_day(self) -> dt.date | None:
        days = [r["snapshot_day"] for r in self.records.values()]
        return dt.date.fromisoformat(max(days)) if days else None

    def holds(self, partition: Partition) -> bool:
        """Whether the commit holds the partition as of its snapshot day."""
        record = self.records.get((partition.grain, partition.key))
        return record is not None and record["snapshot_day"] == partition.snapshot_day.isoformat()


class Warehouse:
    """The warehouse of one data directory, with the record of what built each partition."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "warehouse"
        self.records = self.data_dir / "state" / "partitions"

    def path(self, dataset: str, partition: Partition) -> Path:
        """Where a dataset's partition file lives: only ever under the warehouse, named by a day, week or month."""
        if dataset not in SCHEMAS or not PARTITION_KEY[partition.grain].fullmatch(partition.key):
            raise ValueError(f"not a warehouse partition: {dataset}/{partition.grain}={partition.key!r}")
        return self.root / self._relative(dataset, partition)

    @staticmethod
    def _relative(dataset: str, partition: Partition) -> str:
        if partition.grain == "flags":
            return f"{dataset}/part-0.parquet"
        if partition.grain == "day":
            return f"{dataset}/month={partition.key[:7]}/part-0.parquet"
        return f"{dataset}/{partition.grain}={partition.key}/part-0.parquet"

    def _record(self, partition: Partition) -> Path:
        """Where a partition's record is kept: its own file, or a day's in its month's (``days=YYYY-MM.json``,
        by day), as its rows share the month's files."""
        if partition.grain == "day":
            return self.records / f"days={partition.key[:7]}.json"
        return self.records / f"{partition.grain}={partition.key}.json"

    def built(self, partition: Partition) -> dict | None:
        """What built a partition (snapshot day, input generation, code version, rows), or None."""
        path = self._record(partition)
        return _entry(orjson.loads(path.read_bytes()) if path.exists() else None, partition)

    def latest_week_snapshot(self) -> dt.date | None:
        """The latest snapshot day of any weekly partition: the day the warehouse is as of."""
        days = [json.loads(p.read_text(encoding="utf-8"))["snapshot_day"] for p in self.records.glob("week=*.json")]
        return dt.date.fromisoformat(max(days)) if days else None

    def is_current(self, partition: Partition, lake: Lake, code: str) -> bool:
        """Whether a partition's files exist and were built from today's inputs and code."""
        return self._is_current(partition, self.built(partition), lake, code,
                                lambda dataset: self.path(dataset, partition).exists())

    def stale(self, partitions: list[Partition], lake: Lake, code: str) -> list[Partition]:
        """The partitions that are not current (``is_current``), found with one listing of the
        records rather than a look per partition (a run plans every partition of the history), and
        a file's existence asked by its name as text."""
        recorded = {entry.name for entry in os.scandir(self.records)} if self.records.exists() else set()
        root, stale, read = str(self.root), [], {}
        for partition in partitions:
            name = self._record(partition).name
            if name not in read:
                read[name] = orjson.loads((self.records / name).read_bytes()) if name in recorded else None
            if not self._is_current(partition, _entry(read[name], partition), lake, code,
                                    lambda dataset: os.path.exists(f"{root}/{self._relative(dataset, partition)}")):
                stale.append(partition)
        return stale

    def _is_current(self, partition: Partition, entry: dict | None, lake: Lake, code: str, exists) -> bool:
        """``exists``: whether a dataset's file of the partition exists."""
        return (
            entry is not None
            and entry["snapshot_day"] == partition.snapshot_day.isoformat()
            and entry["code_version"] == _version(partition, code)
            and entry["input_generation"] >= input_generation(lake, partition.snapshot_day)
            and all(exists(t) for t in partition.datasets)
        )

    def write(self, partitions: list[Partition], tables: dict[str, dict[str, pa.Table]], lake: Lake, code: str,
              batch: files.Batch, progress: Callable[[int], None] | None = None) -> dict[Partition, dict[str, int]]:
        """Stage the files of partitions computed together in ``batch`` (``tables``: each dataset's rows
        by partition key), then their records; returns each partition's rows per dataset. A day's
        rows go into its month's file, beside the rows that file holds of the month's other days.
        ``progress`` is told the partitions of each group of files as it is staged."""
        written = {}
        for group in _sharing_files(partitions):
            builds = {p.key: self._build(p, lake, code) for p in group}
            for dataset in group[0].datasets:
                parts = {p.key: tables[dataset][p.key] for p in group}
                table, build = (self._month_of_days(dataset, group[0], parts, builds, batch) if group[0].grain == "day"
                                else (parts[group[0].key], builds[group[0].key]))
                generation = max(b["input_generation"] for b in build.get("days", {"": build}).values())
                metadata = {"insights.run": f"build-g{generation}-{builds[group[0].key]['code_version']}",
                            "insights.build": json.dumps(build, sort_keys=True)}
                batch.write_parquet(self.path(dataset, group[0]), table, metadata, SCHEMAS[dataset],
                                    STATISTICS.get(dataset, True))
            records = {}
            for partition in group:
                build = builds[partition.key]
                written[partition] = {d: tables[d][partition.key].num_rows for d in partition.datasets}
                records[partition.key] = {"snapshot_day": partition.snapshot_day.isoformat(),
                                          "input_generation": build["input_generation"],
                                          "code_version": build["code_version"], "rows": written[partition]}
            target = self._record(group[0])
            if group[0].grain == "day":  # the month's record, the other days' entries kept
                held = _held(target, batch)
                batch.write_json(target, dict(sorted({**(orjson.loads(held.read_bytes()) if held else {}), **records}.items())))
            else:
                batch.write_json(target, records[group[0].key])
            if progress is not None:
                progress(len(group))
        return written

    @staticmethod
    def _build(partition: Partition, lake: Lake, code: str) -> dict:
        return {"partition": f"{partition.grain}={partition.key}",
                "snapshot_at": end_of_day(partition.snapshot_day).isoformat(),
                "input_generation": input_generation(lake, partition.snapshot_day), "code_version": _version(partition, code)}

    def _month_of_days(self, dataset: str, day: Partition, parts: dict[str, pa.Table], builds: dict[str, dict],
                       batch: files.Batch) -> tuple[pa.Table, dict]:
        """A daily dataset's month file with ``parts`` (rows by day) in place of what it held of
        those days: the rows of the month's other days are kept from the file as staged earlier in
        the batch or as committed, in day order, and so are their builds."""
        held = _held(self.path(dataset, day), batch)
        kept, days = [], {}
        if held is not None:
            old = pq.ParquetFile(held).read()
            days = {d: b for d, b in json.loads(old.schema.metadata[b"insights.build"])["days"].items() if d not in parts}
            kept = [old.filter(pc.is_in(old["day"], pa.array([dt.date.fromisoformat(d) for d in days], pa.date32())))]
        days.update({key: {k: v for k, v in build.items() if k != "partition"} for key, build in builds.items()})
        table = pa.concat_tables([t.cast(SCHEMAS[dataset]) for t in (*kept, *parts.values())])
        table = table.take(pc.sort_indices(table, [("day", "ascending")])).combine_chunks()
        return table, {"partition": f"month={day.key[:7]}", "days": dict(sorted(days.items()))}

    def batch(self) -> AbstractContextManager[files.Batch]:
        """A batch of partitions, published as one commit when the block ends normally."""
        return files.batch(self.data_dir, self.committing)

    @contextmanager
    def committing(self) -> Iterator[None]:
        """Hold the commit lock while the block publishes (``commits.committing``); before it is
        released, a daily trend's day folders, as code before its month files wrote them, go where
        their month's file now stands (a reader globbing the dataset would count their rows twice)."""
        with commits.committing(self.data_dir):
            yield
            for trend in (d.name for d in DATASETS.values() if d.grain == "day"):
                for folder in (self.root / trend).glob("day=*") if (self.root / trend).exists() else ():
                    if (folder.parent / f"month={folder.name[4:11]}" / "part-0.parquet").exists():
                        shutil.rmtree(folder, ignore_errors=True)
            for record in self.records.glob("day=*.json") if self.records.exists() else ():
                if (self.records / f"days={record.name[4:11]}.json").exists():
                    record.unlink(missing_ok=True)

    def committed(self, version: int) -> Committed:
        """Every partition's record as committed now; call it holding the commit lock (``commits.reading``)."""
        records = {}
        for entry in os.scandir(self.records) if self.records.exists() else ():
            if "=" in entry.name and entry.name.endswith(".json"):
                grain, key = entry.name.removesuffix(".json").split("=", 1)
                if grain == "day":  # a day's own record, as code before month records wrote it: not held
                    continue
                with open(entry.path, "rb") as file:
                    record = orjson.loads(file.read())
                records.update({("day", day): r for day, r in record.items()} if grain == "days" else {(grain, key): record})
        return Committed(version, records)

    def stored_usage_files(self) -> dict[str, Path]:
        """The ``flag_usage_daily`` file of every month the warehouse holds, by month, oldest first."""
        return {path.parent.name[len("month="):]: path
                for path in sorted((self.root / "flag_usage_daily").glob("month=*/part-0.parquet"))}

    def flags_before(self, lake: Lake, code: str, as_of: dt.date, since: dt.date) -> Path | None:
        """The stored ``flags`` file where a ``flags`` table as of ``as_of`` can continue from it,
        reading only the usage from ``since`` on: built by this code, as of a day from the eve of
        ``since`` to ``as_of``, and no landing since reaches a day before ``since``. Else None."""
        entry, path = self.built(flags_partition(as_of)), self.path("flags", flags_partition(as_of))
        if entry is None or entry["code_version"] != _version(flags_partition(as_of), code) or not path.exists():
            return None
        built_as_of = dt.date.fromisoformat(entry["snapshot_day"])
        reached = input_generation(lake, since - dt.timedelta(days=1))
        return path if since - dt.timedelta(days=1) <= built_as_of <= as_of and entry["input_generation"] >= reached else None

    def files_for(self, trend: str, partitions: list[Partition]) -> list[str]:
        """The files holding a trend's partitions, each once, as strings, for a reader (a daily trend's
        month file holds other days too: ``read``)."""
        return list(dict.fromkeys(str(self.path(trend, p)) for p in partitions))

    def read(self, con: duckdb.DuckDBPyConnection, trend: str, partitions: list[Partition]) -> duckdb.DuckDBPyRelation | None:
        """The rows of a trend's partitions, unread; None where none are asked for."""
        paths = self.files_for(trend, partitions)
        if not paths:
            return None
        rows = con.read_parquet(paths, hive_partitioning=False)
        days = [duckdb.ConstantExpression(p.snapshot_day) for p in partitions if p.grain == "day"]
        return rows.filter(duckdb.ColumnExpression("day").isin(*days)) if days else rows


def _version(partition: Partition, code: str) -> str:
    """The version a partition is built by: the code's, and for the ``flags`` tables the clean-up
    thresholds too, so that a changed threshold rebuilds them and nothing else."""
    return f"{code}-{CleanupSettings.from_environment().version}" if partition.grain == "flags" else code


def _entry(record: dict | None, partition: Partition) -> dict | None:
    """A partition's entry in its record file (``Warehouse._record``): a day's under its key in its month's."""
    return record.get(partition.key) if record is not None and partition.grain == "day" else record


def _held(target: Path, batch: files.Batch) -> Path | None:
    """A month's file as a build merges into it: as staged earlier in ``batch``, else as committed;
    None where neither."""
    return batch.staged_file(target) or (target if target.exists() else None)


def _sharing_files(partitions: list[Partition]) -> list[list[Partition]]:
    """The partitions in groups that share their files (a month's days), in order."""
    groups: dict[tuple[str, str], list[Partition]] = {}
    for partition in sorted(partitions):
        key = partition.key[:7] if partition.grain == "day" else partition.key
        groups.setdefault((partition.grain, key), []).append(partition)
    return list(groups.values())


def split_by_partition(table: pa.Table, column: str) -> dict[str, pa.Table]:
    """A table sorted by ``column`` cut into one table per distinct value of it (slices: no copy)."""
    return {str(key): part for key, part in slices.runs(table, column).items()}
