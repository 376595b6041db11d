"""The raw landing zone: immutable Parquet files per entity, committed by one atomic state file.

Layout under ``<data dir>/lake/``::

    _state.json                                   what is committed: files, watermarks, landings
    events/g000001.parquet                        events landed by generation 1 (unique ids)
    user_activity/g000001.parquet                 distinct (user, instant, kind) rows
    client_metrics/day=2025-01-31/g000004.parquet the whole day's hourly rows as of generation 4
    client_metrics/day=2025-01-31/g000004.sums.parquet   its sums per (flag, app, environment)
    client_metrics_daily/day=2025-01-31/g000001.parquet
    features/g000003.parquet                      a snapshot, stamped in its ``snapshot_at`` column

Each landing is one *generation*: it writes new files, then replaces ``_state.json`` atomically.
Readers use the files ``_state.json`` names and nothing else, so a landing that dies half-way
leaves the lake as it was; the next one deletes the orphans and lands the data again. Each landing
records ``affects_from``: the earliest instant whose trends its new data can change. A metrics day
file is rolled up when it is written, and its sums committed with it (``pipeline.rollups``); a
landing also rolls up any committed day that has none, so a lake from older code heals.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import files, quarantine, rollups
from pipeline.calendar import UTC
from pipeline.entities import ENTITIES, SNAPSHOT_STAMP, Entity, conform

log = logging.getLogger(__name__)

STATE_FILE = "_state.json"
LANDED_FILE = "landed.json"
LANDING_MARK = "_landing.json"
"""Written when a landing begins and removed when it ends: where it is left, a landing died and
the next one looks for the files it wrote."""
"""Under ``state/``: the latest landing's generation and wall-clock time."""
EVERYTHING = "everything"
"""A landing's ``affects_from`` when its data can change every partition (null: none)."""
EVENT_OVERLAP_IDS = 1000
"""How many event ids below the watermark each extraction reads again (late-committing ids)."""


class SourceSession(Protocol):
    """One consistent read of a source (for a database: one REPEATABLE READ transaction).

    A session that can ask for less when it knows what was landed before (the Admin API asks for a
    flag's lifecycle stages only where they changed, and events from the newest landed one's day)
    has a ``remember_landed`` method: the lake calls it first with itself.
    """

    extracted_at: dt.datetime

    def read(self, entity: str, since: object | None) -> Iterable[pa.RecordBatch] | None:
        """The entity's rows (from ``since`` on, where the entity is incremental); None if absent."""


@dataclass
class Landing:
    """What one landing added: rows per entity and the earliest instant it can change trends from."""

    generation: int
    extracted_at: dt.datetime
    source: str
    rows: dict[str, int] = field(default_factory=dict)
    affects_from: dt.datetime | None = None
    changes_everything: bool = False
    absent: list[str] = field(default_factory=list)

    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.rows) or bool(self.quarantined)


class Lake:
    """The raw lake of one data directory."""

    def __init__(self, data_dir: Path, root: Path | None = None):
        self.data_dir = Path(data_dir)
        self.root = Path(root) if root else self.data_dir / "lake"
        self._root_text = str(self.root)
        self.state = self._load_state()
        self._reaches: list | None = None
        self._reaching: tuple[int, list[dt.datetime], list[int]] | None = None

    # ---- reading -------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        """A lake file's absolute path, from its name relative to the lake (text: a daily run lists
        thousands, and ``Path`` objects cost more than the rest of its listing)."""
        return os.path.join(self._root_text, name)

    @property
    def generation(self) -> int:
        """The number of landings committed so far."""
        return self.state["generation"]

    @property
    def landings(self) -> list[dict]:
        """Every committed landing, oldest first, as recorded in the state file."""
        return self.state["landings"]

    @property
    def reaches(self) -> list[tuple[int, dt.datetime | None]]:
        """Each landing's generation and the earliest instant it can change (None: every instant)."""
        if self._reaches is None:
            self._reaches = [
                (landing["generation"], None if landing["affects_from"] == EVERYTHING
                 else dt.datetime.fromisoformat(landing["affects_from"]))
                for landing in self.landings
                if landing["affects_from"] is not None
            ]
        return self._reaches

    def newest_reaching(self, moment: dt.datetime) -> int:
        """The newest generation whose landed data can change a snapshot at ``moment`` (0: none):
        a bisection over the landings by the earliest instant each reaches."""
        if self._reaching is None:
            everything = max((generation for generation, first in self.reaches if first is None), default=0)
            firsts, newest = [], []
            for first, generation in sorted((f, g) for g, f in self.reaches if f is not None):
                firsts.append(first)
                newest.append(max(generation, newest[-1] if newest else 0))
            self._reaching = (everything, firsts, newest)
        everything, firsts, newest = self._reaching
        reached = bisect.bisect_right(firsts, moment)
        return max(everything, newest[reached - 1] if reached else 0)

    @property
    def landed_at(self) -> str | None:
        """When the latest landing was committed (ISO 8601, UTC), or its extraction instant where that
        was not recorded; None before any landing."""
        if not self.landings:
            return None
        try:
            landed = json.loads((self.data_dir / "state" / LANDED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            landed = {}
        return landed["landed_at"] if landed.get("generation") == self.generation else self.landings[-1]["extracted_at"]

    @property
    def extracted_through(self) -> dt.date:
        """The UTC day of the latest extraction: no later day has data yet (the earliest date when none)."""
        if not self.landings:
            return dt.date.min
        return dt.datetime.fromisoformat(self.landings[-1]["extracted_at"]).astimezone(UTC).date()

    @property
    def watermarks(self) -> dict:
        return self.state["watermarks"]

    def files(self, entity: str) -> list[str]:
        """Every committed file of an append-only or day-partitioned entity, as absolute paths."""
        entry = self.state["entities"].get(entity, {})
        names = entry.get("files", []) + sorted(entry.get("days", {}).values())
        return [self._path(name) for name in names]

    def day_files(self, entity: str) -> dict[dt.date, str]:
        """The committed file of each day of a day-partitioned entity, by day (only days with rows)."""
        days = self.state["entities"].get(entity, {}).get("days", {})
        return {dt.date.fromisoformat(d): self._path(days[d]) for d in sorted(days)}

    def day_sums_files(self, entity: str) -> dict[str, str]:
        """The sums landing rolled up of each day file of a day-partitioned entity, by the day file's
        path (``pipeline.rollups``): only those of the day files committed now."""
        entry = self.state["entities"].get(entity, {})
        sums, days = entry.get("sums", {}), entry.get("days", {})
        return {self._path(days[d]): self._path(name) for d, name in sums.items()
                if d in days and name == rollups.sums_name(days[d])}

    def quarantine_files(self, entity: str, since: dt.datetime | None = None) -> list[str]:
        """The committed quarantine files of an entity (``pipeline.quarantine``), oldest first, as
        absolute paths: only those of landings extracted at or after ``since`` where given."""
        return [self._path(name) for name in self._quarantine_names(self.state, entity, since)]

    def _quarantine_names(self, state: dict, entity: str, since: dt.datetime | None) -> list[str]:
        names = state.get("quarantine", {}).get(entity, [])
        if since is not None:
            extracted = {landing["generation"]: dt.datetime.fromisoformat(landing["extracted_at"])
                         for landing in state["landings"]}
            names = [name for name in names
                     if extracted.get(int(name.rsplit("/g", 1)[1].split(".")[0]), since) >= since]
        return names

    def first_event_at(self) -> dt.datetime | None:
        """The earliest instant of any landed event (None: no events)."""
        return _instant(self._event_bound(self.state["entities"].get("events", {}), "first_at"))

    def last_event_at(self) -> dt.datetime | None:
        """The latest instant of any landed event (None: no events)."""
        return _instant(self._event_bound(self.state["entities"].get("events", {}), "last_at"))

    def _event_bound(self, entry: dict, bound: str) -> str | None:
        """The events' earliest (``first_at``) or latest (``last_at``) instant as the state records
        it, or read from their files where a lake written by older code does not record it yet
        (ISO 8601; None: no events)."""
        if bound in entry or not entry.get("files"):
            return entry.get(bound)
        instants = pl.scan_parquet([self._path(name) for name in entry["files"]]).select("created_at")
        return _text((instants.min() if bound == "first_at" else instants.max()).collect().item())

    def snapshot_files(self, entity: str) -> list[str]:
        """Every committed snapshot file of an entity, oldest first."""
        return [self._path(s["file"]) for s in self.state["entities"].get(entity, {}).get("snapshots", [])]

    def latest_snapshot(self, entity: str) -> str | None:
        """The newest snapshot file of an entity, or None when it was never landed."""
        snapshots = self.snapshot_files(entity)
        return snapshots[-1] if snapshots else None

    def has_rows(self, entity: str) -> bool:
        """Whether any committed snapshot of an entity holds a row (an empty table lands as an empty snapshot)."""
        return _has_rows(self.root, self.state, entity)

    def empty_table(self, entity: str) -> pa.Table:
        """A zero-row table with the entity's schema, for entities the lake has no file of."""
        schema = ENTITIES[entity].schema
        if ENTITIES[entity].kind == "snapshot":
            schema = schema.append(pa.field(SNAPSHOT_STAMP, pa.timestamp("us", tz="UTC")))
        return schema.empty_table()

    # ---- landing -------------------------------------------------------------------------------

    def land(self, session: SourceSession, source: str) -> Landing:
        """Land every entity from one source session as one generation, then commit it.

        Append-only and day-partitioned entities stream batch by batch; nothing is visible until
        the state file is replaced, which happens last; a landing that adds nothing commits nothing.
        """
        self._remove_orphans()
        generation = self.generation + 1
        files.write_json(self.data_dir, self.root / LANDING_MARK, {"generation": generation})
        landing = Landing(generation, session.extracted_at, source)
        state = json.loads(json.dumps(self.state))
        known_flags = None
        if hasattr(session, "remember_landed"):
            session.remember_landed(self)
        for entity in ENTITIES.values():
            since = self._since(entity)
            batches = session.read(entity.name, since)
            if batches is None:
                if not entity.optional:
                    raise ValueError(f"source {source} has no {entity.name!r} table, which the lake needs")
                landing.absent.append(entity.name)
                continue
            lander = {
                "events": self._land_appended,
                "activity": self._land_appended,
                "daily_files": self._land_daily_files,
                "snapshot": self._land_snapshot,
            }[entity.kind]
            if entity.name.startswith("client_metrics") and known_flags is None:
                known_flags = self._known_flags(state)  # events and features have landed by now
            with self._quarantine(entity, landing, state, known_flags, since) as screen:
                lander(entity, screen(_frames(entity, batches)), since, landing, state)
            log.info("landed %s: %s new rows (%d of %d entities)", entity.name,
                     f"{landing.rows.get(entity.name, 0):,}", list(ENTITIES).index(entity.name) + 1, len(ENTITIES))
        if not landing.changed:
            log.info("landing from %s found nothing new", source)
            (self.root / LANDING_MARK).unlink()
            return landing
        self._roll_up_missing(state, generation)
        state["generation"] = generation
        state["landings"].append(
            {
                "generation": generation,
                "source": source,
                "extracted_at": _text(landing.extracted_at),
                "rows": landing.rows,
                "quarantined": landing.quarantined,
                "affects_from": EVERYTHING if landing.changes_everything else _text(landing.affects_from),
            }
        )
        files.write_json(self.data_dir, self.root / STATE_FILE, state)
        replaced = self.state["entities"].get("events", {}).get("flags")
        if replaced and replaced != state["entities"]["events"]["flags"]:
            (self.root / replaced).unlink(missing_ok=True)  # only landing reads it
        (self.root / LANDING_MARK).unlink()
        self.state, self._reaches, self._reaching = state, None, None
        # when it landed, by this machine's clock, for people (a sample's extraction is the end of its
        # simulated day); kept apart from the lake, whose bytes the same input always makes the same
        files.write_json(self.data_dir, self.data_dir / "state" / LANDED_FILE,
                         {"generation": generation, "landed_at": dt.datetime.now(UTC).isoformat(timespec="seconds")})
        log.info("landed generation %d from %s: %s", generation, source, landing.rows)
        return landing

    @contextmanager
    def _quarantine(self, entity: Entity, landing: Landing, state: dict, known_flags: pl.Series | None,
                    since: object | None) -> Iterator:
        """A screen for an entity's frames: rows a quarantine rule matches are set aside.

        Rows quarantined before (a snapshot read again, the events overlap) are not counted twice:
        metrics are read again only from ``since`` (an hour or a day before the last landed), so
        only the quarantine files of landings extracted from the day before it on can hold them.
        """
        known = known_flags if entity.name.startswith("client_metrics") else None
        entity_rules = quarantine.rules(entity.name, landing.extracted_at, known)
        name = f"_quarantine/{entity.name}/g{landing.generation:06d}.parquet"
        day = since.date() if isinstance(since, dt.datetime) else since
        earlier = [self._path(f) for f in self._quarantine_names(
            state, entity.name, _start(day - dt.timedelta(days=1)) if entity.kind == "daily_files" and day else None)]
        seen = pl.read_parquet(earlier) if earlier else pl.DataFrame(schema={"reason": pl.String, "row": pl.String})
        sink = files.ParquetSink(self.data_dir, self.root / name, quarantine.SCHEMA)

        def screen(frames: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
            nonlocal seen
            for frame in frames:
                good, bad = quarantine.split(frame, entity_rules)
                bad = bad.unique(maintain_order=True).join(seen, on=["reason", "row"], how="anti")
                if bad.height:
                    seen = pl.concat([seen, bad])
                    sink.write(bad.to_arrow())
                    counts = landing.quarantined.setdefault(entity.name, {})
                    for reason, n in bad.group_by("reason").len().iter_rows():
                        counts[reason] = counts.get(reason, 0) + n
                if good.height:
                    yield good

        try:
            yield screen
            if sink.commit():
                state.setdefault("quarantine", {}).setdefault(entity.name, []).append(name)
                counts = dict(landing.quarantined[entity.name])
                if unknown := counts.pop(quarantine.UNKNOWN_FLAG, 0):  # what SDKs ask of flags Unleash does not know: news, not a fault
                    log.info("set aside %s %s row(s) of flags the instance does not know (never created, or "
                             "deleted): see the unknown_flags dataset", f"{unknown:,}", entity.name)
                if counts:
                    log.warning("set aside %s malformed %s row(s): %s", f"{sum(counts.values()):,}", entity.name, counts)
        finally:
            sink.discard()

    def _known_flags(self, state: dict) -> pl.Series:
        """Every flag name the lake knows of (events and the newest features snapshot)."""
        names = [self._event_flags(state)["name"]]
        snapshots = state["entities"].get("features", {}).get("snapshots", [])
        if snapshots:
            names.append(pl.read_parquet(self.root / snapshots[-1]["file"], columns=["name"])["name"])
        return pl.concat(names).unique()

    def _event_flags(self, state: dict) -> pl.DataFrame:
        """Every flag name the landed events name, and whether a creation event names it: the
        lake's file of them (``events/flags-g*.parquet``, one row per name, rewritten by each landing
        of events from the one before and the new events alone), or for a lake written by older
        code, read from every event file."""
        entry = state["entities"].get("events", {})
        if "flags" in entry:
            return pl.read_parquet(self.root / entry["flags"])
        return _event_flags([self._path(name) for name in entry.get("files", [])])

    def _since(self, entity: Entity) -> object | None:
        mark = self.watermarks.get(entity.name)
        if mark is None:
            return None
        if entity.kind == "events":
            return max(0, mark - EVENT_OVERLAP_IDS)
        if entity.kind == "activity":
            return _instant(mark) - dt.timedelta(days=1)
        if entity.name == "client_metrics":
            return _instant(mark) - dt.timedelta(hours=1)
        if entity.name == "client_metrics_daily":
            return dt.date.fromisoformat(mark) - dt.timedelta(days=1)
        return None

    def _land_appended(self, entity: Entity, frames: Iterator[pl.DataFrame], since: object | None,
                       landing: Landing, state: dict) -> None:
        """Append the rows not yet in the lake (by key) as one new file, streaming."""
        key = list(entity.key)
        column = "id" if entity.kind == "events" else entity.time_column
        known = self._existing(entity, pl.col(column) >= since if since is not None else pl.lit(True), key)
        name = f"{entity.name}/g{landing.generation:06d}.parquet"
        sink = files.ParquetSink(self.data_dir, self.root / name, entity.schema)
        first = last = latest = None
        try:
            for frame in frames:
                new = frame.drop_nulls(key).unique(key, keep="first", maintain_order=True)
                new = new.join(known, on=key, how="anti", nulls_equal=True).sort(key)
                if new.height == 0:
                    continue
                known = pl.concat([known, new.select(key)])
                sink.write(new.to_arrow())
                low, high, newest = new[entity.time_column].min(), new[column].max(), new[entity.time_column].max()
                first = low if first is None else min(first, low)
                last = high if last is None else max(last, high)
                latest = newest if latest is None else max(latest, newest)
            rows = sink.commit()
        except BaseException:
            sink.discard()
            raise
        if not rows:
            return
        entry = state["entities"].setdefault(entity.name, {})
        if entity.kind == "events":
            earlier = [i for i in (first, _instant(self._event_bound(entry, "first_at"))) if i is not None]
            later = [i for i in (latest, _instant(self._event_bound(entry, "last_at"))) if i is not None]
            entry["first_at"], entry["last_at"] = _text(min(earlier)), _text(max(later))
            flags = pl.concat([self._event_flags(state), _event_flags([self._path(name)])])
            entry["flags"] = f"{entity.name}/flags-g{landing.generation:06d}.parquet"
            self._write(entry["flags"], flags.group_by("name").agg(pl.col("created").any()).sort("name").to_arrow(), {})
        entry.setdefault("files", []).append(name)
        previous = state["watermarks"].get(entity.name)
        if entity.kind == "events":
            state["watermarks"][entity.name] = max(int(last), previous or 0)
        else:
            state["watermarks"][entity.name] = _text(max(last, _instant(previous) or last))
        self._record(landing, entity.name, rows, first)

    def _land_daily_files(self, entity: Entity, frames: Iterator[pl.DataFrame], since: object | None,
                          landing: Landing, state: dict) -> None:
        """Merge incoming rows into their days' files, one day in memory at a time.

        Rows should arrive in time order (each source sorts them); a day is written as soon as a
        later day's rows start, and written again if more of its rows come after all.
        """
        days = state["entities"].setdefault(entity.name, {}).setdefault("days", {})
        sums = state["entities"][entity.name].setdefault("sums", {})
        pending: dict[dt.date, list[pl.DataFrame]] = {}
        totals = {"rows": 0, "first": None, "last": None}

        def flush(day: dt.date) -> None:
            part = _last_of_each_key(pl.concat(pending.pop(day)), list(entity.key))
            self._merge_day(entity, day, part, days, sums, landing, totals)

        for frame in frames:
            day_of = pl.col(entity.time_column).cast(pl.Date) if entity.time_column != "date" else pl.col("date")
            frame = frame.with_columns(day_of.alias("_day"))
            for (day,), part in frame.partition_by("_day", as_dict=True, maintain_order=True).items():
                pending.setdefault(day, []).append(part.drop("_day"))
            newest = frame["_day"].max()
            for day in [d for d in pending if d < newest]:
                flush(day)
        for day in sorted(pending):
            flush(day)
        if totals["rows"]:
            latest = totals["last"]
            text = latest.isoformat() if not isinstance(latest, dt.datetime) else _text(latest)
            previous = state["watermarks"].get(entity.name)
            state["watermarks"][entity.name] = max(text, previous) if previous else text
            self._record(landing, entity.name, totals["rows"], totals["first"])

    def _merge_day(self, entity: Entity, day: dt.date, part: pl.DataFrame, days: dict, sums: dict,
                   landing: Landing, totals: dict) -> None:
        key = list(entity.key)
        existing_name = days.get(day.isoformat())
        if existing_name:
            existing = pl.read_parquet(self.root / existing_name)
            merged = _in_key_order(pl.concat([existing.join(part.select(key), on=key, how="anti", nulls_equal=True), part]), key)
            changed = merged.join(existing, on=merged.columns, how="anti", nulls_equal=True)
        else:
            merged = changed = part
        latest = part[entity.time_column].max()
        totals["last"] = latest if totals["last"] is None else max(totals["last"], latest)
        if changed.height == 0:
            return
        name = f"{entity.name}/day={day.isoformat()}/g{landing.generation:06d}.parquet"
        self._write(name, merged.to_arrow().cast(entity.schema), {})
        days[day.isoformat()] = name
        self._roll_up(name, sums, day)
        first = changed[entity.time_column].min()
        first = first if isinstance(first, dt.datetime) else _start(first)
        totals["rows"] += changed.height
        totals["first"] = first if totals["first"] is None else min(totals["first"], first)

    def _roll_up(self, day_file: str, sums: dict, day: dt.date) -> None:
        """Write a day file's sums beside it (``pipeline.rollups``) and list them in ``sums``."""
        name = rollups.sums_name(day_file)
        self._write(name, rollups.day_sums(self._path(day_file)), {})
        sums[day.isoformat()] = name

    def _roll_up_missing(self, state: dict, generation: int) -> None:
        """Roll up every committed day file of the day-partitioned entities whose sums are missing (a
        lake landed by code that wrote none), so that the landing commits them with its own."""
        healed = 0
        for entity in (e for e in ENTITIES.values() if e.kind == "daily_files"):
            entry = state["entities"].get(entity.name, {})
            days, sums = entry.get("days", {}), entry.setdefault("sums", {})
            for day, day_file in days.items():
                if sums.get(day) != rollups.sums_name(day_file):
                    self._roll_up(day_file, sums, dt.date.fromisoformat(day))
                    healed += 1
        if healed:
            log.info("rolled up %d landed days of metrics that had no sums, in generation %d", healed, generation)

    def _land_snapshot(self, entity: Entity, frames: Iterator[pl.DataFrame], since: object | None,
                       landing: Landing, state: dict) -> None:
        key = list(entity.key)
        new = pl.concat(list(frames) or [_empty_frame(entity)]).unique(maintain_order=True).sort(key, nulls_last=True)
        snapshots = state["entities"].setdefault(entity.name, {}).setdefault("snapshots", [])
        old = pl.read_parquet(self.root / snapshots[-1]["file"]).drop(SNAPSHOT_STAMP) if snapshots else None
        if old is not None and old.equals(new):
            return
        name = f"{entity.name}/g{landing.generation:06d}.parquet"
        stamped = new.with_columns(pl.lit(landing.extracted_at).cast(pl.Datetime("us", "UTC")).alias(SNAPSHOT_STAMP))
        self._write(name, stamped.to_arrow(), {"insights.snapshot_at": _text(landing.extracted_at)})
        self._snapshot_affects(entity, old, new, landing, state)
        snapshots.append({"file": name, "at": _text(landing.extracted_at)})
        landing.rows[entity.name] = new.height

    def _snapshot_affects(
        self, entity: Entity, old: pl.DataFrame | None, new: pl.DataFrame, landing: Landing, state: dict
    ) -> None:
        """Widen ``landing.affects_from`` by what a changed snapshot can change.

        The trends read ``feature_environments`` nowhere; ``project_members`` snapshots count from
        the moment they were taken (the first one for all time before it); ``feature_lifecycles``
        only ever adds the stages it shows, except its first rows ever, which replace the production
        entries the metrics gave every flag. Otherwise a changed row affects trends from the
        earliest of its instants, and an entity with no instants (a lifetime, an environment's
        type) affects every partition.
        """
        if entity.name == "feature_environments":
            return
        if entity.name == "project_members" and old is not None:
            self._record(landing, entity.name, None, landing.extracted_at)
            return
        if entity.name == "feature_lifecycles" and new.height and not _has_rows(self.root, state, entity.name):
            # the first stages ever landed: production entries stop coming from metrics, for every flag
            landing.changes_everything = True
            return
        if not entity.time_columns:
            landing.changes_everything = True
            return
        old = old if old is not None else new.clear()
        if entity.name == "features":
            old, new = (self._without_fallbacks(frame, state) for frame in (old, new))
        first = earliest_changed_instant(entity, old, new)
        if first is not None:
            self._record(landing, entity.name, None, first)

    def _without_fallbacks(self, features: pl.DataFrame, state: dict) -> pl.DataFrame:
        """Features with the columns blanked that events decide for flags whose creation event landed.

        For such a flag the snapshot's project, type, stale and archived_at are only fallbacks the
        trends never read, so their changes (a stale toggle on an old flag) must not reach back to
        the flag's creation; its events carry the change from their own instants.
        """
        if features.height == 0:
            return features
        flags = self._event_flags(state)
        created = flags.filter(pl.col("created"))["name"]
        covered = pl.col("name").is_in(created.implode())
        fallbacks = ("project", "type", "stale", "archived_at")
        return features.with_columns([pl.when(covered).then(None).otherwise(pl.col(c)).alias(c) for c in fallbacks])

    @staticmethod
    def _record(landing: Landing, entity: str, rows: int | None, first: dt.datetime | None) -> None:
        if rows is not None:
            landing.rows[entity] = landing.rows.get(entity, 0) + rows
        if first is not None:
            landing.affects_from = first if landing.affects_from is None else min(landing.affects_from, first)

    def _existing(self, entity: Entity, predicate: pl.Expr, columns: list[str]) -> pl.DataFrame:
        paths = self.files(entity.name)
        schema = {c: _empty_frame(entity).schema[c] for c in columns}
        if not paths:
            return pl.DataFrame(schema=schema)
        return pl.scan_parquet(paths).filter(predicate).select(columns).collect()

    def _write(self, name: str, table: pa.Table, metadata: dict[str, str]) -> None:
        files.write_parquet(self.data_dir, self.root / name, table, metadata)

    # ---- state ---------------------------------------------------------------------------------

    def _load_state(self) -> dict:
        path = self.root / STATE_FILE
        if not path.exists():
            return {"format": 1, "generation": 0, "entities": {}, "watermarks": {}, "landings": []}
        return json.loads(path.read_text(encoding="utf-8"))

    def _remove_orphans(self) -> None:
        """Delete files a dead landing wrote but never committed: only where one began and did not
        end (its mark is left), so a landing does not walk a lake of years for nothing."""
        if not (self.root / LANDING_MARK).exists():
            return
        committed = {p for e in self.state["entities"]
                     for p in self.files(e) + self.snapshot_files(e) + list(self.day_sums_files(e).values())}
        committed |= {self._path(f) for names in self.state.get("quarantine", {}).values() for f in names}
        committed |= {self._path(e["flags"]) for e in self.state["entities"].values() if "flags" in e}
        orphans = [path for folder, _, names in os.walk(self.root) for name in names if name.endswith(".parquet")
                   and (path := os.path.join(folder, name)) not in committed]
        for path in orphans:
            os.unlink(path)
        if orphans:
            log.info("removed %d files under %s that a landing which did not commit had written", len(orphans), self.root)


def earliest_changed_instant(entity: Entity, old: pl.DataFrame, new: pl.DataFrame) -> dt.datetime | None:
    """The earliest instant of the rows that differ between two snapshots of an entity.

    A row added or removed, or one whose non-time columns changed, counts with all its instants;
    a row where only instants changed counts with the old and new values of those instants.
    """
    key = list(entity.key)
    tracked = [c for c in entity.schema.names if c not in key and c not in entity.diff_ignores]
    plain = [c for c in tracked if c not in entity.time_columns]
    both = new.select(key + tracked).with_columns(pl.lit(True).alias("_in_new")).join(
        old.select(key + tracked).with_columns(pl.lit(True).alias("_in_old")),
        on=key, how="full", suffix="_old", coalesce=True, nulls_equal=True,
    )
    both = both.with_columns(pl.col("_in_old", "_in_new").fill_null(False))
    whole_row = ~pl.col("_in_old") | ~pl.col("_in_new") | pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in plain] or [pl.lit(False)]
    )
    candidates = [
        pl.when(whole_row).then(pl.col(c))
        if c in key
        else pl.when(whole_row | pl.col(c).ne_missing(pl.col(f"{c}_old"))).then(pl.min_horizontal(c, f"{c}_old"))
        for c in entity.time_columns
    ]
    if not candidates:
        return None
    return both.select(pl.min_horizontal(candidates).min()).item()


def _event_flags(paths: list[str]) -> pl.DataFrame:
    """The flag names event files name, one row each, and whether a creation event names it."""
    if not paths:
        return pl.DataFrame(schema={"name": pl.String, "created": pl.Boolean})
    return (pl.scan_parquet(paths).filter(pl.col("feature_name").is_not_null())
            .group_by(pl.col("feature_name").alias("name"))
            .agg(pl.col("type").is_in(["feature-created", "feature-import"]).any().alias("created"))
            .collect())


def _has_rows(root: Path, state: dict, entity: str) -> bool:
    snapshots = state["entities"].get(entity, {}).get("snapshots", [])
    return any(pq.read_metadata(root / s["file"]).num_rows for s in snapshots)


def _frames(entity: Entity, batches: Iterable[pa.RecordBatch] | pa.Table) -> Iterator[pl.DataFrame]:
    """The source's batches as frames with exactly the entity's columns and types."""
    if isinstance(batches, pa.Table):
        batches = batches.to_batches()
    for batch in batches:
        if batch.num_rows:
            yield pl.from_arrow(conform(entity, pa.Table.from_batches([batch])))


def _last_of_each_key(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The rows sorted by ``key``, keeping of each key only the row delivered last.

    The sort is stable, so rows with equal keys stay in delivery order, side by side; a row whose
    next row has the same key is dropped. The file needs the sort anyway; this saves a hash-based
    ``unique`` over the same rows.
    """
    ordered = _in_key_order(frame, key)
    repeated = pl.all_horizontal([pl.col(c) == pl.col(c).shift(-1) for c in key]).fill_null(False)
    return ordered.filter(~repeated)


def _in_key_order(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The rows sorted by ``key`` as ``frame.sort(key, maintain_order=True)`` sorts them (a null first),
    each text column sorted by its rank among its distinct values: a day of metrics has a million
    rows but a few thousand flags and apps, and sorting numbers is twice as fast as sorting their text."""
    ranks = []
    for column in key:
        values = frame[column]
        if values.dtype == pl.String and (distinct := values.drop_nulls().unique().sort()).len():
            ranks.append(pl.col(column).cast(pl.Enum(distinct)).to_physical())
        else:
            ranks.append(pl.col(column))
    return frame.sort(ranks, maintain_order=True)


def _empty_frame(entity: Entity) -> pl.DataFrame:
    return pl.from_arrow(entity.schema.empty_table())


def _text(instant: dt.datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat()


def _instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
