"""The seven trends and the flag-level datasets: from the lake, as of a set of snapshot moments, to
one table per dataset.

Each trend is a DuckDB query in ``sql/trends/``, the ``flags`` table one in ``sql/flags/`` (each day's
usage is summed from its day file by ``usage.py``); the histories they share (flag, project and
type-lifetime changes, environment enablement) are computed once per build, the daily usage of
the days asked for once, and the states at each snapshot moment once per grain. A build takes any
set of days, weeks and months at once (and the ``flags`` table as of one day), so a backfill of a
year costs one pass, and a daily run a pass over one day, one week and one month.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import calendar, duck, queries, slices
from pipeline.calendar import MonthSnapshot, WeekSnapshot, end_of_day, start_of_day
from pipeline.lake import Lake
from pipeline.trends import histories, inputs, usage


@dataclass(frozen=True)
class Trend:
    """One output array: its dataset name, its JSON array, its grain, and JSON field -> column."""

    name: str
    array: str
    grain: str
    fields: dict[str, str]


def _fields(*names: str) -> dict[str, str]:
    return {name: "".join("_" + c.lower() if c.isupper() else c for c in name) for name in names}


TRENDS: dict[str, Trend] = {
    t.name: t
    for t in [
        Trend("user_trends", "userTrends", "day", _fields("date", "total", "active", "inactive")),
        Trend("flag_trends", "flagTrends", "day", _fields("date", "total", "active", "stale", "potentiallyStale")),
        Trend(
            "project_flag_trends",
            "projectFlagTrends",
            "week",
            _fields("week", "project", "health", "technicalDebt", "timeToProduction", "date", "total", "active",
                    "stale", "potentiallyStale", "users"),
        ),
        Trend(
            "metrics_summary_trends",
            "metricsSummaryTrends",
            "week",
            _fields("week", "date", "project", "totalRequests", "totalYes", "totalNo", "totalApps", "totalFlags",
                    "totalEnvironments"),
        ),
        Trend(
            "environment_type_trends",
            "environmentTypeTrends",
            "week",
            _fields("date", "week", "environmentType", "totalUpdates"),
        ),
        Trend("lifecycle_trends", "lifecycleTrends", "week", _fields("week", "date", "newProductionFlags", "project")),
        Trend(
            "creation_archive_trends",
            "creationArchiveTrends",
            "week",
            _fields("week", "date", "project", "createdFlags", "archivedFlags"),
        ),
    ]
}

@dataclass(frozen=True)
class Dataset:
    """One warehouse dataset: its name, its grain (day, week, month, or flags: one table as of a
    day), and its query (None for the month grain: ``usage.py`` sums each day's rows)."""

    name: str
    grain: str
    query: str | None

    @property
    def partition_column(self) -> str | None:
        """The column that names each row's partition (None: the dataset is one file)."""
        return None if self.grain == "flags" else self.grain


DATASETS: dict[str, Dataset] = {
    **{t.name: Dataset(t.name, t.grain, f"trends/{t.name}") for t in TRENDS.values()},
    "flag_usage_daily": Dataset("flag_usage_daily", "month", None),
    "flags": Dataset("flags", "flags", "flags/flags"),
    "flag_lifecycle": Dataset("flag_lifecycle", "flags", "flags/flag_lifecycle"),
    "unknown_flags": Dataset("unknown_flags", "flags", "flags/unknown_flags"),
}
"""Every dataset the warehouse holds: the seven trends, then the flag-level datasets (SPEC §9)."""
CLEANUP_REASONS = ("stale", "potentially_stale", "completed", "not_evaluated_30_days", "always_on", "always_off")
"""The ``flags`` table's clean-up reasons, in the order the first that applies is chosen (``sql/flags/flags.sql``)."""
CHECK_INPUTS = ("week_project_usage",)
"""Tables ``compute`` returns beside the datasets (queries of ``sql/``, read in the week grain of a
build with months), for the data-quality checks only."""

SNAPSHOT_STATES = ("flag_states_at", "listed_projects_at", "project_flag_counts", "flag_projects_at",
                   "lifecycle_stages_at")
"""The states at each snapshot moment, each after those it reads: computed for a grain as its trends need them."""


def unleash_url() -> str | None:
    """The Unleash instance's web address from ``INSIGHTS_UNLEASH_URL`` (``web_address``), for links
    to a flag's page (``<url>/projects/<project>/features/<flag>``); None where unset."""
    return web_address("INSIGHTS_UNLEASH_URL", "your Unleash, such as https://unleash.example.com")


def web_address(variable: str, what: str) -> str | None:
    """The web address an environment variable sets, without a trailing slash; None where unset;
    ``SettingsError`` for anything but an http(s) address with a host and no credentials."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query or parts.fragment:
        raise SettingsError(f"{variable} must be the web address of {what} (no user, password, query or fragment)")
    return text.rstrip("/")


USAGE_WINDOW_DAYS = 90
"""The longest span of days whose evaluations the ``flags`` table sums (``evaluations_90d``)."""


class SettingsError(ValueError):
    """A threshold set in the environment that is not a whole number in its range."""


@dataclass(frozen=True)
class CleanupSettings:
    """The thresholds of the ``always_on`` / ``always_off`` clean-up reasons (SPEC §9): a flag older
    than ``constant_days`` days, evaluated in production-type environments in its last
    ``constant_days`` days at least ``constant_evaluations`` times with one answer only, its
    production configuration unchanged in those days. Set with ``INSIGHTS_CONSTANT_DAYS`` and
    ``INSIGHTS_CONSTANT_EVALUATIONS``."""

    constant_days: int = 30
    constant_evaluations: int = 100

    @classmethod
    def from_environment(cls) -> "CleanupSettings":
        """The settings the environment gives, the defaults where it gives none; ``SettingsError``
        for a value that is not a whole number in range (days 1 to 90, evaluations 1 or more)."""
        values = {}
        for name, variable, high in (("constant_days", "INSIGHTS_CONSTANT_DAYS", USAGE_WINDOW_DAYS),
                                     ("constant_evaluations", "INSIGHTS_CONSTANT_EVALUATIONS", None)):
            text = os.environ.get(variable, "").strip()
            if not text:
                continue
            if not text.isdigit() or not 1 <= int(text) <= (high or int(text)):
                limit = f"from 1 to {high}" if high else "of 1 or more"
                raise SettingsError(f"{variable} must be a whole number {limit}, not {text[:40]!r}")
            values[name] = int(text)
        return cls(**values)

    @property
    def version(self) -> str:
        """The settings in a few characters, for the record of the table they built."""
        return f"d{self.constant_days}e{self.constant_evaluations}"

    def table(self) -> pa.Table:
        return pa.table({"constant_days": pa.array([self.constant_days], pa.int32()),
                         "constant_evaluations": pa.array([self.constant_evaluations], pa.int64())})


def compute(lake: Lake, days: list[dt.date], weeks: list[WeekSnapshot], months: list[MonthSnapshot] = (),
            flags_as_of: dt.date | None = None, prepared: Path | None = None, usage_files: dict[str, str] | None = None,
            flags_before: Path | None = None, cleanup: CleanupSettings = CleanupSettings()) -> dict[str, pa.Table]:
    """Every dataset's rows for the given days (daily trends), week snapshots (weekly trends), month
    snapshots (``flag_usage_daily``) and, with ``flags_as_of``, the ``flags`` table as of that day.

    ``prepared`` is a folder ``histories.prepare`` wrote for this lake; without it the histories
    are replayed here. ``usage_files`` are the warehouse's ``flag_usage_daily`` files of the months not
    asked for, by month (the ``flags`` table reads every day's usage). ``flags_before``: a stored
    ``flags`` table the new one may continue from (``Warehouse.flags_before``): then only the
    usage of the months from ``usage_window_start`` on is read. ``cleanup``: the ``flags`` table's
    thresholds. Returns one Arrow table per dataset
    name of the grains asked for, sorted by its partition key and grouping keys (its ``date``
    column is the end of the snapshot day, a UTC timestamp; ``flag_usage_daily`` keeps its strings
    dictionary-encoded), and the ``CHECK_INPUTS``.
    """
    if not days and not weeks and not months and flags_as_of is None:
        return {}
    con = duck.connect()
    try:
        inputs.register(con, lake)
        if prepared is None:
            histories.replay(con, lake)
        else:
            histories.load(con, prepared)
        month_days = [day for m in months for day in calendar.days(m.first, m.snapshot_day)]
        week_days = [day for w in weeks for day in calendar.days(w.monday, w.snapshot_day)]
        day_tables = _daily_usage(con, lake, month_days, set(week_days) | set(month_days))
        tables: dict[str, pa.Table] = {}
        rows = _flag_usage_daily(day_tables, {m.month for m in months})
        con.register("flag_usage_daily_rows", rows)
        if months:
            tables["flag_usage_daily"] = rows
        if flags_as_of is not None:
            _flag_usage_history(con, usage_files or {}, flags_as_of, flags_before)
            _unknown_metrics(con, lake, flags_as_of)
            con.register("cleanup_settings", cleanup.table())
            _recent_events(con, flags_as_of)
        grains = (("day", _day_snapshots(days)), ("week", _week_snapshots(weeks)),
                  ("flags", _day_snapshots([flags_as_of] if flags_as_of else [])))
        for grain, snapshots in grains:
            if not snapshots.num_rows:
                continue
            grain_queries = {d.name: queries.load(d.query) for d in DATASETS.values() if d.grain == grain}
            if grain == "week" and months:
                grain_queries.update({name: queries.load(name) for name in CHECK_INPUTS})
            with _snapshot_states(con, snapshots, grain_queries.values()):
                for name, query in grain_queries.items():
                    tables[name] = con.sql(query).to_arrow_table()
        return tables
    finally:
        con.close()


def _daily_usage(con, lake: Lake, month_days: list[dt.date], days: set[dt.date]) -> list[pa.Table]:
    """``daily_usage``: the usage of ``days`` (``pipeline/trends/usage.py``), the flags of the
    ``month_days`` with their project and type; registered, and returned a table a day."""
    projects: dict[dt.date, pa.Table] = {}
    if month_days:
        query = "SELECT key::DATE AS day, flag, project, type FROM flag_projects_at ORDER BY day"
        with _snapshot_states(con, _day_snapshots(month_days), [query]):
            by_day = con.sql(query).to_arrow_table()
        projects = {day: part.drop_columns(["day"]) for day, part in slices.runs(by_day, "day").items()}
    environments = con.sql("SELECT name, type FROM environments").to_arrow_table()
    parts = usage.daily_usage(lake, days, projects, environments)
    con.register("daily_usage", pa.concat_tables(parts) if parts else usage.COMPACT.empty_table())
    return parts


def _flag_usage_daily(parts: list[pa.Table], months: set[str]) -> pa.Table:
    """The ``flag_usage_daily`` rows of ``months``: their days' usage with any evaluations, by month,
    in (day, flag, app, environment) order as the days came. Each day keeps its own dictionaries,
    made from its file alone, so a month's file is the same whatever else the build holds."""
    chosen = []
    for part in parts:
        month = calendar.month_id(part["day"][0].as_py())
        if month not in months:
            continue
        evaluated = pc.greater(pc.add(part["yes"], part["no"]), 0)
        part = part if pc.all(evaluated).as_py() else part.filter(evaluated)
        month_column = pa.DictionaryArray.from_arrays(np.zeros(part.num_rows, np.int32), pa.array([month]))
        chosen.append(part.select(FLAG_USAGE_COLUMNS[1:]).add_column(0, "month", month_column))
    return pa.concat_tables(chosen) if chosen else pa.table(
        {c: pa.array([], usage.COMPACT.field(c).type if c != "month" else pa.dictionary(pa.int32(), pa.string()))
         for c in FLAG_USAGE_COLUMNS})


FLAG_USAGE_COLUMNS = ("month", "day", "flag", "environment", "environment_type", "app_name", "project", "type", "yes", "no")


def usage_window_start(as_of: dt.date) -> dt.date:
    """The first day of the usage a ``flags`` table as of ``as_of`` reads when it continues from an
    earlier one: the first of the month holding the first day of its 90-day window."""
    return (as_of - dt.timedelta(days=USAGE_WINDOW_DAYS - 1)).replace(day=1)


def _flag_usage_history(con, usage_files: dict[str, str], through: dt.date, flags_before: Path | None) -> None:
    """``usage_history`` and ``flags_before``, as ``sql/flags/flags.sql`` reads them.

    With a ``flags_before`` table, only the usage from ``usage_window_start`` on is read, and that
    table's last evaluated days stand for the days before. That holds where each of its last days
    from the window's start on still has evaluations (``sql/flags/flags_before_holds.sql``); where
    one does not (a day landed again), every day's usage is read instead and ``flags_before`` is empty.
    """
    if flags_before is not None:
        since = usage_window_start(through)
        _usage_history(con, [path for month, path in usage_files.items() if month >= calendar.month_id(since)],
                       since, through)
        con.read_parquet(str(flags_before)).select(
            "flag, incarnation, last_evaluated_day, last_evaluated_production_day").to_table("flags_before")
        if con.execute(queries.load("flags/flags_before_holds"), {"since": since}).fetchall()[0][0]:
            return
        con.execute("DROP TABLE flags_before")
    _usage_history(con, list(usage_files.values()), dt.date.min, through)
    con.execute("CREATE TEMP TABLE flags_before (flag VARCHAR, incarnation BIGINT, last_evaluated_day DATE, "
                "last_evaluated_production_day DATE)")


def _usage_history(con, usage_files: list[str], since: dt.date, through: dt.date) -> None:
    """``usage_history``: every day's usage from ``since`` to ``through``, from this build's
    ``flag_usage_daily`` rows and the warehouse's ``flag_usage_daily`` files of the other months.
    The day is compared with constants here: as a subquery in the query it was a nested loop over
    every row."""
    columns = "day, flag, environment_type, app_name, yes, no"
    history = con.table("flag_usage_daily_rows").select(columns)
    if usage_files:
        history = history.union(con.read_parquet(list(usage_files)).select(columns))
    day = duckdb.ColumnExpression("day")
    history.filter((day >= duckdb.ConstantExpression(since)) & (day <= duckdb.ConstantExpression(through))
                   ).create_view("usage_history", replace=True)


def _recent_events(con, as_of: dt.date) -> None:
    """``recent_events``: the events of the ``USAGE_WINDOW_DAYS`` days up to the end of ``as_of``
    (``cleanup_settings`` allows no longer constant span), compared with constants so that the
    scan skips the files and row groups of every earlier day."""
    instant = duckdb.ColumnExpression("created_at")
    since, through = start_of_day(as_of - dt.timedelta(days=USAGE_WINDOW_DAYS)), end_of_day(as_of)
    con.table("events").filter((instant >= duckdb.ConstantExpression(since))
                               & (instant <= duckdb.ConstantExpression(through))).create_view("recent_events", replace=True)


def _unknown_metrics(con, lake: Lake, as_of: dt.date) -> None:
    """``quarantined_hourly``, ``quarantined_daily`` and ``hourly_days``, as
    ``sql/flags/unknown_flags.sql`` reads them: the quarantine files of the landings that can hold
    metrics of its 90 days (a row lies at most a day after its landing's extraction, or it is set
    aside as out of range), and the days the lake has hourly metrics of."""
    since = start_of_day(as_of - dt.timedelta(days=USAGE_WINDOW_DAYS))
    for entity, name in (("client_metrics", "quarantined_hourly"), ("client_metrics_daily", "quarantined_daily")):
        paths = lake.quarantine_files(entity, since)
        relation = (con.read_parquet(paths, filename=True) if paths
                    else con.from_arrow(pa.table({"reason": pa.array([], pa.string()), "row": pa.array([], pa.string()),
                                                  "filename": pa.array([], pa.string())})))
        relation.create_view(name, replace=True)
    con.register("hourly_days", pa.table({"day": pa.array(list(lake.day_files("client_metrics")), pa.date32())}))


LIFECYCLE_STAGES = ("develop", "production", "cleanup")
LIFECYCLE_CATEGORIES = ("experimental", "release", "permanent")


def lifecycle_now(lake: Lake, as_of: dt.date, projects: Collection[str] = ()) -> dict:
    """Unleash 8's ``lifecycleTrendsSchema``: the flags of each lifecycle stage at the end of ``as_of``,
    in the listed ``projects`` together (none: every listed project); see ``sql/lifecycle_now.sql``.
    Counts are flags; medians are whole days."""
    return lifecycle_by_project(lake, as_of, projects)[None]


def lifecycle_by_project(lake: Lake, as_of: dt.date, projects: Collection[str] = ()) -> dict[str | None, dict]:
    """``lifecycle_now`` for the ``projects`` together (key None) and for each listed one of them."""
    con = duck.connect()
    try:
        inputs.register(con, lake)
        histories.replay(con, lake, ("flag_history", "project_history", "type_lifetimes"))
        con.register("lifecycle_projects_input", pa.table({"project": pa.array(sorted(set(projects)), pa.string())}))
        con.execute("CREATE TEMP TABLE lifecycle_projects AS SELECT * FROM lifecycle_projects_input")
        query = queries.load("lifecycle_now")
        with _snapshot_states(con, _day_snapshots([as_of]), [query]):
            rows = con.sql(query).to_arrow_table().to_pylist()
    finally:
        con.close()
    figures: dict[str | None, dict] = {}
    for row in rows:
        figures.setdefault(row["project"], {"lifecycleTrends": {}})["lifecycleTrends"][row["name"]] = {
            "categories": {c: {"flagsOlderThanWeek": row[f"{c}_older"], "newFlagsThisWeek": row[f"{c}_new"]}
                           for c in LIFECYCLE_CATEGORIES},
            "totalFlags": row["total_flags"],
            "medianDaysInCurrentStage": _number(row["median_current"]),
            "medianDaysHistorically": _number(row["median_historical"]),
        }
    return {project: {"lifecycleTrends": {stage: f["lifecycleTrends"][stage] for stage in LIFECYCLE_STAGES}}
            for project, f in figures.items()}


LIFECYCLE_STAGE_NAMES = dict(zip(("pre-live", "live", "completed"), LIFECYCLE_STAGES))


class PublishedLifecycle:
    """A ``flag_lifecycle`` table (a row per flag and stage it has been in, as of one moment) held as
    arrays, so that ``figures`` combines any projects' flags in a few vector operations."""

    def __init__(self, flag_lifecycle: pa.Table):
        def column(name: str) -> np.ndarray:
            return flag_lifecycle[name].to_numpy(zero_copy_only=False)

        names, self._projects = np.unique(column("project").astype(str), return_inverse=True)
        self._known = {name: code for code, name in enumerate(names)}
        stages = {name: code for code, name in enumerate(LIFECYCLE_STAGE_NAMES)}
        self._stage = np.array([stages[s] for s in column("stage")], np.int64)
        categories = {name: code for code, name in enumerate(LIFECYCLE_CATEGORIES)}
        self._category = np.array([categories.get(c, -1) for c in column("category")], np.int64)  # None: left it
        self._current, self._days = column("current"), column("days")
        self._new = flag_lifecycle["is_new"].fill_null(False).to_numpy(zero_copy_only=False)

    def figures(self, projects: Collection[str] = ()) -> dict:
        """``lifecycle_now`` of the table's moment for the listed ``projects`` together (none: every
        listed project): the flags now in each stage, by category and age, and the medians of their
        days there and of the days that flags which left the stage spent in it (0 where none)."""
        chosen = (np.isin(self._projects, [self._known[p] for p in projects if p in self._known]) if projects
                  else np.ones(len(self._projects), bool))
        trends = {}
        for code, stage in enumerate(LIFECYCLE_STAGE_NAMES.values()):
            in_stage = chosen & (self._stage == code)
            now, departed = in_stage & self._current, in_stage & ~self._current
            trends[stage] = {
                "categories": {c: {"flagsOlderThanWeek": int(np.count_nonzero(now & (self._category == i) & ~self._new)),
                                   "newFlagsThisWeek": int(np.count_nonzero(now & (self._category == i) & self._new))}
                               for i, c in enumerate(LIFECYCLE_CATEGORIES)},
                "totalFlags": int(np.count_nonzero(now)),
                "medianDaysInCurrentStage": _number(_median(self._days[now])),
                "medianDaysHistorically": _number(_median(self._days[departed])),
            }
        return {"lifecycleTrends": trends}


def _median(values: np.ndarray) -> float:
    """The median, the mean of the middle two for an even count (as DuckDB's); 0 of nothing."""
    return float(np.median(values)) if len(values) else 0.0


def _number(value: float) -> int | float:
    """A whole number as an integer (JSON ``3``, not ``3.0``)."""
    return int(value) if float(value).is_integer() else float(value)


@contextmanager
def _snapshot_states(con, snapshots: pa.Table, readers: Iterable[str]) -> Iterator[None]:
    """The snapshot states the queries in ``readers`` read (by name), and the states those read.

    A state that one query reads is a view, computed as part of that query; one that several
    read is computed once, as a table. They are dropped at the end of the block.
    """
    con.register("snapshots_input", snapshots)
    con.execute("CREATE OR REPLACE TEMP TABLE snapshots AS SELECT * FROM snapshots_input")
    con.unregister("snapshots_input")
    readers, kinds = list(readers), {}
    for state in reversed(SNAPSHOT_STATES):
        reading = sum(1 for text in readers if re.search(rf"\b{state}\b", text))
        if reading:
            kinds[state] = "TABLE" if reading > 1 else "VIEW"
            readers.append(queries.load(state))
    created = []
    try:
        for state in SNAPSHOT_STATES:
            if state in kinds:
                con.execute(f"CREATE TEMP {kinds[state]} {state} AS {queries.load(state)}")
                created.append(state)
        yield
    finally:
        for state in reversed(created):
            con.execute(f"DROP {kinds[state]} {state}")


_SNAPSHOT_SCHEMA = pa.schema(
    [("key", pa.string()), ("window_start", pa.timestamp("us", tz="UTC")), ("snapshot_at", pa.timestamp("us", tz="UTC"))]
)


def _day_snapshots(days: list[dt.date]) -> pa.Table:
    return pa.table(
        [[d.isoformat() for d in days], [start_of_day(d) for d in days], [end_of_day(d) for d in days]],
        schema=_SNAPSHOT_SCHEMA,
    )


def _week_snapshots(weeks: list[WeekSnapshot]) -> pa.Table:
    return pa.table(
        [[w.week for w in weeks], [start_of_day(w.monday) for w in weeks], [end_of_day(w.snapshot_day) for w in weeks]],
        schema=_SNAPSHOT_SCHEMA,
    )
