"""A large synthetic Unleash instance for the benchmark, landed through the real lake, day by day.

Tiers set the scale: days of history, hourly metric rows a day, flags, projects, users, events.
Everything is drawn with numpy from a fixed seed and streamed to the lake one hour of metrics at a
time, so generating tier ``l`` (365 million metric rows) needs no more memory than tier ``s``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from pipeline.calendar import UTC, day_cutoff, end_of_day, start_of_day
from pipeline.entities import ENTITIES
from pipeline.lake import Lake, Landing
from pipeline.sources.base import TableSession

END = dt.date(2026, 6, 30)
ENVIRONMENTS = [("development", "development"), ("staging", "preproduction"), ("production", "production"),
                ("production-eu", "production")]
TYPES = ["release", "experiment", "operational", "kill-switch", "permission"]
LIFETIMES = [40, 40, 7, None, None]
EVENT_TYPES = ["feature-environment-enabled", "feature-environment-disabled", "feature-strategy-update",
               "feature-stale-on", "feature-stale-off", "feature-metadata-updated", "feature-archived",
               "feature-revived", "feature-strategy-add", "feature-environment-variants-updated"]
EVENT_WEIGHTS = [0.2, 0.05, 0.3, 0.04, 0.02, 0.02, 0.04, 0.01, 0.25, 0.07]
APPS = 50


@dataclass(frozen=True)
class Tier:
    days: int
    rows_per_day: int
    flags: int
    projects: int
    users: int
    events: int

    def with_days(self, days: int) -> "Tier":
        """The same instance over fewer days: events shrink with the history, the rest stays."""
        return replace(self, days=days, events=max(self.flags, self.events * days // self.days))


TIERS = {
    "s": Tier(days=28, rows_per_day=24_000, flags=300, projects=20, users=200, events=10_000),
    "m": Tier(days=120, rows_per_day=240_000, flags=3_000, projects=150, users=1_500, events=200_000),
    "l": Tier(days=365, rows_per_day=1_000_000, flags=10_000, projects=500, users=5_000, events=1_000_000),
    # by hand only: tier l at Unleash's own roll-up limit of hourly rows a day, everything else the same
    "xl": Tier(days=365, rows_per_day=3_600_000, flags=10_000, projects=500, users=5_000, events=1_000_000),
}


class Instance:
    """The instance of a tier, ending on ``END`` (and one more day on demand)."""

    def __init__(self, tier: Tier, seed: int = 7, hourly_days: int | None = None):
        self.tier, self.seed = tier, seed
        self.first = END - dt.timedelta(days=tier.days - 1)
        self.hourly_from = END - dt.timedelta(days=(tier.days if hourly_days is None else hourly_days) - 1)
        """The first day with hourly rows; the days before it have Unleash's daily rows instead."""
        draw = np.random.default_rng(seed)
        span = (tier.days + 180) * 86_400
        self.flag_names = pa.array([f"flag-{n:05d}" for n in range(tier.flags)])
        self.flag_created = _instants(self.first - dt.timedelta(days=180), draw.integers(0, span - 86_400, tier.flags))
        self.flag_project = draw.integers(0, tier.projects, tier.flags)
        self.flag_type = draw.choice(len(TYPES), tier.flags, p=[0.5, 0.2, 0.1, 0.15, 0.05])
        self.projects = [f"project-{n:03d}" for n in range(tier.projects)]
        combos = tier.rows_per_day // 24
        self.combo_flag = draw.integers(0, tier.flags, combos)
        self.combo_app = draw.integers(0, APPS, combos)
        self.combo_env = draw.integers(0, len(ENVIRONMENTS), combos)
        keep = np.unique(np.stack([self.combo_flag, self.combo_app, self.combo_env]), axis=1, return_index=True)[1]
        self.combo_flag, self.combo_app, self.combo_env = (a[np.sort(keep)] for a in
                                                           (self.combo_flag, self.combo_app, self.combo_env))

    # ---- landing ------------------------------------------------------------------------------

    def land(self, data_dir: Path) -> Landing:
        """Land the whole history into ``data_dir``'s lake as one generation."""
        return Lake(data_dir).land(_Session(self, self.first, END), "bench")

    def land_next_day(self, data_dir: Path) -> Landing:
        """Land the day after ``END``: its events, its metrics, and the snapshots as they then stand."""
        day = END + dt.timedelta(days=1)
        return Lake(data_dir).land(_Session(self, day, day), "bench")

    # ---- tables -------------------------------------------------------------------------------

    def events(self, first: dt.date, last: dt.date) -> pa.Table:
        """Creation events of flags created in the window, and the window's share of other events."""
        tier, draw = self.tier, np.random.default_rng([self.seed, first.toordinal(), last.toordinal()])
        lo, hi = start_of_day(first), day_cutoff(last)
        created = np.array([lo <= c < hi for c in self.flag_created.to_pylist()])
        days = (last - first).days + 1
        count = max(tier.events * days // tier.days - int(created.sum()), 0)
        flags = draw.integers(0, tier.flags, count)
        start = np.maximum(_seconds(self.flag_created)[flags], _seconds([lo])[0])
        at = start + (draw.random(count) * np.maximum(_seconds([hi])[0] - start, 1)).astype(np.int64)
        ok = at < _seconds([hi])[0]
        flags, at = flags[ok], at[ok]
        kinds = draw.choice(len(EVENT_TYPES), len(flags), p=EVENT_WEIGHTS)
        types = np.array(EVENT_TYPES, dtype=object)[kinds]
        env_events = np.isin(kinds, [0, 1, 2, 8, 9])
        envs = np.where(env_events, np.array([e[0] for e in ENVIRONMENTS], dtype=object)[
            draw.integers(0, len(ENVIRONMENTS), len(flags))], None)
        new_type = np.where(types == "feature-metadata-updated",
                            np.array(TYPES, dtype=object)[draw.integers(0, len(TYPES), len(flags))], None)
        creations = np.nonzero(created)[0]
        all_flags = np.concatenate([creations, flags])
        all_at = np.concatenate([_seconds(self.flag_created)[creations], at])
        all_types = np.concatenate([np.full(len(creations), "feature-created", dtype=object), types])
        all_envs = np.concatenate([np.full(len(creations), None, dtype=object), envs])
        all_new_type = np.concatenate([np.array(TYPES, dtype=object)[self.flag_type[creations]], new_type])
        order = np.lexsort((all_flags, all_at))
        first_id = 1 if first == self.first else 10_000_000 + first.toordinal() * 10_000
        names = self.flag_names.take(pa.array(all_flags[order]))
        stale = np.where(all_types[order] == "feature-created", False, None)
        return pa.table({
            "id": pa.array(np.arange(first_id, first_id + len(order)), pa.int64()),
            "created_at": pa.array(all_at[order] * 1_000_000, pa.timestamp("us", tz="UTC")),
            "type": pa.array(all_types[order], pa.string()),
            "feature_name": names,
            "project": pa.array(np.array(self.projects, dtype=object)[self.flag_project[all_flags[order]]], pa.string()),
            "environment": pa.array(all_envs[order], pa.string()),
            "created_by_user_id": pa.array(np.ones(len(order), np.int64)),
            "flag_type": pa.array(all_new_type[order], pa.string()),
            "stale": pa.array(stale, pa.bool_()),
            "old_project": pa.nulls(len(order), pa.string()),
            "new_project": pa.nulls(len(order), pa.string()),
            "lifetime_days": pa.nulls(len(order), pa.int64()),
            "previous_lifetime_days": pa.nulls(len(order), pa.int64()),
        })

    def _combos(self) -> tuple[pa.Array, pa.Array, pa.Array]:
        """The (flag, app, environment) series evaluated every day."""
        envs = pa.array([e[0] for e in ENVIRONMENTS]).take(pa.array(self.combo_env))
        apps = pa.array([f"app-{n:02d}" for n in range(APPS)]).take(pa.array(self.combo_app))
        return self.flag_names.take(pa.array(self.combo_flag)), apps, envs

    def metrics(self, first: dt.date, last: dt.date) -> Iterator[pa.RecordBatch]:
        """Hourly metric rows of every day in the window from ``hourly_from`` on, one record batch an
        hour, in time order."""
        flags, apps, envs = self._combos()
        size = len(self.combo_flag)
        for day in range((last - max(first, self.hourly_from)).days + 1):
            date = max(first, self.hourly_from) + dt.timedelta(days=day)
            draw = np.random.default_rng([self.seed, date.toordinal()])
            for hour in range(24):
                yes = draw.integers(0, 5_000, size)
                yield pa.RecordBatch.from_arrays(
                    [flags, apps, envs,
                     pa.array(np.full(size, _seconds([start_of_day(date)])[0] + hour * 3600) * 1_000_000,
                              pa.timestamp("us", tz="UTC")),
                     pa.array(yes, pa.int64()), pa.array(draw.integers(0, 5_000, size), pa.int64())],
                    schema=ENTITIES["client_metrics"].schema,
                )

    def daily_metrics(self, first: dt.date, last: dt.date) -> Iterator[pa.RecordBatch]:
        """Unleash's daily metric rows (``client_metrics_env_daily``) of the window's days before
        ``hourly_from``: one row a series and day, one record batch a day."""
        flags, apps, envs = self._combos()
        size = len(self.combo_flag)
        for day in range((min(last, self.hourly_from - dt.timedelta(days=1)) - first).days + 1):
            date = first + dt.timedelta(days=day)
            draw = np.random.default_rng([self.seed, 3, date.toordinal()])
            yield pa.RecordBatch.from_arrays(
                [flags, apps, envs, pa.repeat(pa.scalar(date, pa.date32()), size),
                 pa.array(draw.integers(0, 120_000, size), pa.int64()), pa.array(draw.integers(0, 120_000, size), pa.int64())],
                schema=ENTITIES["client_metrics_daily"].schema,
            )

    def snapshots(self, as_of: dt.date) -> dict[str, pa.Table]:
        """The small tables as they stand at the end of ``as_of``."""
        tier, draw = self.tier, np.random.default_rng(self.seed + 1)
        cutoff = day_cutoff(as_of)
        exists = np.array([c < cutoff for c in self.flag_created.to_pylist()])
        users = np.arange(1, tier.users + 1)
        user_created = _instants(self.first - dt.timedelta(days=365), draw.integers(0, 365 * 86_400, tier.users))
        live_stage = draw.random(tier.flags) < 0.6
        live_at = pa.array(_seconds(self.flag_created) * 1_000_000 + draw.integers(3600, 20 * 86_400, tier.flags)
                           * 1_000_000, pa.timestamp("us", tz="UTC"))
        lifecycle_flags = np.nonzero(exists & live_stage & (_seconds(live_at) < _seconds([cutoff])[0]))[0]
        return {
            "features": pa.table({
                "name": self.flag_names.filter(pa.array(exists)),
                "project": pa.array(np.array(self.projects, dtype=object)[self.flag_project[exists]], pa.string()),
                "type": pa.array(np.array(TYPES, dtype=object)[self.flag_type[exists]], pa.string()),
                "stale": pa.array(np.zeros(int(exists.sum()), bool)),
                "potentially_stale": pa.array(np.zeros(int(exists.sum()), bool)),
                "created_at": self.flag_created.filter(pa.array(exists)),
                "archived_at": pa.nulls(int(exists.sum()), pa.timestamp("us", tz="UTC")),
            }),
            "feature_types": pa.table({"id": TYPES, "lifetime_days": pa.array(LIFETIMES, pa.int64())}),
            "feature_environments": ENTITIES["feature_environments"].schema.empty_table(),
            "environments": pa.table({"name": [e[0] for e in ENVIRONMENTS], "type": [e[1] for e in ENVIRONMENTS],
                                      "enabled": [True] * len(ENVIRONMENTS)}),
            "projects": pa.table({
                "id": self.projects,
                "created_at": pa.array([start_of_day(self.first - dt.timedelta(days=400))] * tier.projects,
                                       pa.timestamp("us", tz="UTC")),
                "archived_at": pa.nulls(tier.projects, pa.timestamp("us", tz="UTC")),
            }),
            "users": pa.table({
                "id": pa.array(users, pa.int64()), "created_at": user_created,
                "seen_at": pa.nulls(tier.users, pa.timestamp("us", tz="UTC")),
                "deleted_at": pa.nulls(tier.users, pa.timestamp("us", tz="UTC")),
                "is_service": pa.array(users % 20 == 0), "is_system": pa.array(users <= 2),
            }),
            "project_members": pa.table({
                "project": pa.array(np.array(self.projects, dtype=object)[draw.integers(0, tier.projects, tier.users)],
                                    pa.string()),
                "user_id": pa.array(users, pa.int64()), "since": user_created,
            }),
            "feature_lifecycles": pa.table({
                "feature": self.flag_names.take(pa.array(lifecycle_flags)),
                "stage": pa.array(["live"] * len(lifecycle_flags)),
                "created_at": live_at.take(pa.array(lifecycle_flags)),
            }),
        }

    def activity(self, first: dt.date, last: dt.date) -> pa.Table:
        """Logins: each user about twice a week in the window."""
        tier = self.tier
        draw = np.random.default_rng([self.seed, 2, first.toordinal()])
        days = (last - first).days + 1
        count = tier.users * max(days * 2 // 7, 1)
        seen = _seconds([start_of_day(first)])[0] + draw.integers(0, days * 86_400, count)
        return pa.table({
            "user_id": pa.array(draw.integers(1, tier.users + 1, count), pa.int64()),
            "seen_at": pa.array(seen * 1_000_000, pa.timestamp("us", tz="UTC")),
            "kind": pa.array(["login"] * count),
        })


class _Session(TableSession):
    """A source session over a window of the instance; metrics stream lazily."""

    def __init__(self, instance: Instance, first: dt.date, last: dt.date):
        tables = {"events": instance.events(first, last), "user_activity": instance.activity(first, last),
                  **instance.snapshots(last)}
        super().__init__(tables, end_of_day(last))
        self.instance, self.first, self.last = instance, first, last

    def read(self, entity: str, since: object | None):
        if entity == "client_metrics":
            return self.instance.metrics(self.first, self.last)
        if entity == "client_metrics_daily":
            return self.instance.daily_metrics(self.first, self.last)
        return super().read(entity, since)


def _instants(start: dt.date, seconds: np.ndarray) -> pa.Array:
    base = _seconds([start_of_day(start)])[0]
    return pa.array((base + seconds) * 1_000_000, pa.timestamp("us", tz="UTC"))


def _seconds(instants) -> np.ndarray:
    if isinstance(instants, (pa.Array, pa.ChunkedArray)):
        return instants.cast(pa.int64()).to_numpy(zero_copy_only=False) // 1_000_000
    return np.array([int(i.astimezone(UTC).timestamp()) for i in instants], dtype=np.int64)
