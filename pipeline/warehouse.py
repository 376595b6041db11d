"""The Parquet warehouse: one dataset per trend and flag-level table, one file per partition,
swapped in atomically.

Layout under ``<data dir>/warehouse/``::

    user_trends/day=2025-01-31/part-0.parquet
    project_flag_trends/week=2025-05/part-0.parquet
    flag_usage_daily/month=2025-01/part-0.parquet
    flags/part-0.parquet                              one file, as of the latest run's date
    flag_lifecycle/part-0.parquet                     one file, as of the same date

Every file holds its partition column too (``day`` or ``week``), so a single file reads alone.
Key-value metadata on each file names the build that wrote it: the partition, its snapshot
moment, the lake generation its inputs date from and the code version; the same inputs give the
same bytes, whichever run (daily, catch-up or backfill) writes them. ``<data dir>/state/
partitions/<grain>=<key>.json`` records what each partition was built from (one file each, so
tasks building partitions in parallel never share one), and a run rebuilds a partition only when
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
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson
import pyarrow as pa

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
        return f"{dataset}/{partition.grain}={partition.key}/part-0.parquet"

    def built(self, partition: Partition) -> dict | None:
        """What built a partition (snapshot day, input generation, code version, rows), or None."""
        record = self.records / f"{partition.grain}={partition.key}.json"
        return json.loads(record.read_text(encoding="utf-8")) if record.exists() else None

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
        root, stale = str(self.root), []
        for partition in partitions:
            name = f"{partition.grain}={partition.key}.json"
            entry = orjson.loads((self.records / name).read_bytes()) if name in recorded else None
            if not self._is_current(partition, entry, lake, code,
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

    def write(self, partition: Partition, tables: dict[str, pa.Table], lake: Lake, code: str,
              batch: files.Batch) -> dict[str, int]:
        """Stage one partition of every dataset of its grain in ``batch``, then its record; returns rows per dataset."""
        generation, code = input_generation(lake, partition.snapshot_day), _version(partition, code)
        build = {
            "partition": f"{partition.grain}={partition.key}",
            "snapshot_at": end_of_day(partition.snapshot_day).isoformat(),
            "input_generation": generation,
            "code_version": code,
        }
        rows = {}
        for trend in partition.datasets:
            table = tables[trend]
            metadata = {"insights.run": f"build-g{generation}-{code}", "insights.build": json.dumps(build, sort_keys=True)}
            batch.write_parquet(self.path(trend, partition), table, metadata, SCHEMAS[trend], STATISTICS.get(trend, True))
            rows[trend] = table.num_rows
        record = {"snapshot_day": partition.snapshot_day.isoformat(), "input_generation": generation,
                  "code_version": code, "rows": rows}
        batch.write_json(self.records / f"{partition.grain}={partition.key}.json", record)
        return rows

    def batch(self) -> AbstractContextManager[files.Batch]:
        """A batch of partitions, published as one commit when the block ends normally."""
        return files.batch(self.data_dir, lambda: commits.committing(self.data_dir))

    def committed(self, version: int) -> Committed:
        """Every partition's record as committed now; call it holding the commit lock (``commits.reading``)."""
        records = {}
        for entry in os.scandir(self.records) if self.records.exists() else ():
            if "=" in entry.name and entry.name.endswith(".json"):
                grain, key = entry.name.removesuffix(".json").split("=", 1)
                with open(entry.path, "rb") as record:
                    records[grain, key] = orjson.loads(record.read())
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
        """The files of a trend's partitions, as strings, for a reader."""
        return [str(self.path(trend, p)) for p in partitions]


def _version(partition: Partition, code: str) -> str:
    """The version a partition is built by: the code's, and for the ``flags`` tables the clean-up
    thresholds too, so that a changed threshold rebuilds them and nothing else."""
    return f"{code}-{CleanupSettings.from_environment().version}" if partition.grain == "flags" else code


def split_by_partition(table: pa.Table, column: str) -> dict[str, pa.Table]:
    """A table sorted by ``column`` cut into one table per distinct value of it (slices: no copy)."""
    return {str(key): part for key, part in slices.runs(table, column).items()}
