"""The sample instance: a seeded simulation of a realistic Unleash instance, read as a source.

The simulation walks day by day from the settings' ``start`` to ``as_of`` with one random stream,
so the same seed gives the same instance, and a later ``as_of`` only adds days to the history
(metrics are drawn per day from a generator seeded by the seed and the day). It writes no names,
e-mails or addresses: users are ids. Settings live in ``sample.toml`` beside this module.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import random
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from pipeline.calendar import CalendarError, day_cutoff, days, end_of_day, start_of_day
from pipeline.entities import ENTITIES
from pipeline.sources.base import TableSession

log = logging.getLogger(__name__)

SETTINGS = Path(__file__).with_name("sample.toml")
SYSTEM_USER_IDS = (-1337, -42)


class SampleSource:
    """The ``sample`` source: the simulated instance as it stands at the end of ``as_of``."""

    def __init__(self, as_of: dt.date, seed: int = 1):
        _check_day(as_of, tomllib.loads(SETTINGS.read_text(encoding="utf-8")))
        self.as_of, self.seed = as_of, seed
        self.name = f"sample(seed={seed})"

    @contextmanager
    def session(self) -> Iterator[TableSession]:
        log.info("simulating the sample instance (seed %d) up to the end of %s", self.seed, self.as_of)
        yield TableSession(generate(self.as_of, self.seed), end_of_day(self.as_of))


def generate(as_of: dt.date, seed: int = 1, settings_path: Path = SETTINGS) -> dict[str, pa.Table]:
    """Every raw entity of the sample instance as it stands at the end of ``as_of`` (UTC)."""
    settings = tomllib.loads(settings_path.read_text(encoding="utf-8"))
    _check_day(as_of, settings)
    simulation = _Simulation(settings, seed, as_of)
    simulation.run()
    return simulation.tables()


def _check_day(as_of: dt.date, settings: dict) -> None:
    """``CalendarError`` for a day before the sample instance's first."""
    start = dt.date.fromisoformat(settings["start"])
    if as_of < start:
        raise CalendarError(f"--date {as_of.isoformat()} is before the sample instance's first day, "
                            f"{start.isoformat()}: give a date on or after it")


@dataclass
class _Flag:
    name: str
    project: str
    type: str
    created_at: dt.datetime
    apps: list[str]
    rate: float
    stale: bool = False
    archived_at: dt.datetime | None = None
    deleted: bool = False
    enabled: dict[str, dt.datetime] = field(default_factory=dict)
    stages: dict[str, dt.datetime] = field(default_factory=dict)
    unused_from: dt.datetime | None = None
    answers: float = 0.9
    """The share of ``yes`` in production-type environments: 1 for a flag that is always on there, 0 always off."""


@dataclass
class _User:
    id: int
    created_at: dt.datetime
    is_service: bool = False
    is_system: bool = False
    active_until: dt.date | None = None
    deleted_at: dt.datetime | None = None
    uses_tokens: bool = False
    seen_at: dt.datetime | None = None


class _Simulation:
    def __init__(self, settings: dict, seed: int, as_of: dt.date):
        self.s, self.seed, self.as_of = settings, seed, as_of
        self.cutoff = day_cutoff(as_of)
        self.rng = random.Random(seed)
        # later additions draw from their own generator, so the instance the first one makes stays as it was
        self.code_rng = random.Random(f"{seed}-code")
        self.answer_rng = random.Random(f"{seed}-answers")  # its own stream: the other draws stay as they were
        self.env_types = {e["name"]: e["type"] for e in settings["environments"]}
        self.lifetimes = {t: spec.get("lifetime_days") for t, spec in settings["flag_types"].items()}
        self.project_archived: dict[str, dt.datetime] = {}
        self.events: list[tuple] = []
        self.activity: list[tuple] = []
        self.flags: dict[str, _Flag] = {}
        self.users: list[_User] = []
        # (project, user) -> since: direct project roles, and roles through a group
        self.memberships: dict[tuple[str, int], dt.datetime] = {}
        self.enabled_spans: list[tuple[str, str, dt.datetime, dt.datetime | None]] = []
        self.agenda: list[tuple] = []
        self.sequence = itertools.count()
        self.flag_numbers = itertools.count(1)

    # ---- the walk ------------------------------------------------------------------------------

    def run(self) -> None:
        start = dt.date.fromisoformat(self.s["start"])
        for user_id in SYSTEM_USER_IDS:
            self.users.append(_User(user_id, start_of_day(start), is_system=True))
        for n in range(self.s["rates"]["service_accounts"]):
            created = start_of_day(start) + dt.timedelta(days=self.rng.randint(0, 500), hours=9)
            self.users.append(_User(10_000 + n, created, is_service=True, uses_tokens=True))
        for n in range(8):
            self._new_user(start_of_day(start) + dt.timedelta(hours=8, minutes=n))
        self._schedule(dt.datetime.fromisoformat(self.s["lifetime_change"]["day"] + "T10:00:00+00:00"), "lifetime")
        for project in self.s["projects"]:
            at = dt.datetime.fromisoformat(project["created"] + "T08:30:00+00:00")
            self._schedule(at, "project_created", project["id"])
            if "archived" in project:
                self._schedule(dt.datetime.fromisoformat(project["archived"] + "T16:00:00+00:00"), "project_archived", project["id"])
        for day in days(start, self.as_of):
            self._day(day)

    def _day(self, day: dt.date) -> None:
        rates, midnight = self.s["rates"], start_of_day(day)
        weekday = day.weekday() < 5
        if self.rng.random() < rates["users_per_day"]:
            self._new_user(midnight + dt.timedelta(seconds=self.rng.randint(8 * 3600, 18 * 3600)))
        for user in self.users:
            if user.is_system or user.created_at >= midnight or (user.deleted_at and user.deleted_at < midnight):
                continue
            if not user.is_service and weekday and user.active_until and day <= user.active_until:
                if self.rng.random() < rates["login_probability"]:
                    at = midnight + dt.timedelta(seconds=self.rng.randint(7 * 3600, 20 * 3600))
                    self.activity.append((user.id, at, "login"))
                    user.seen_at = at
            if user.uses_tokens and self.rng.random() < 0.3:
                self.activity.append((user.id, midnight + dt.timedelta(seconds=self.rng.randint(0, 86_399)), "pat"))
        if weekday and self.rng.random() < rates["flags_per_weekday"]:
            self._schedule(midnight + dt.timedelta(seconds=self.rng.randint(8 * 3600, 17 * 3600)), "create")
        if self.rng.random() < 0.02:
            env = self.rng.choice(["*", "production", "development"])
            self._event(midnight + dt.timedelta(hours=11), "api-token-created", environment=env)
        cutoff = day_cutoff(day)
        while self.agenda and self.agenda[0][0] < cutoff:
            at, _, action, argument = heapq.heappop(self.agenda)
            getattr(self, f"_on_{action}")(at, argument)

    def _schedule(self, at: dt.datetime, action: str, argument: object = None) -> None:
        heapq.heappush(self.agenda, (at, next(self.sequence), action, argument))

    def _after(self, at: dt.datetime, step: str) -> dt.datetime | None:
        """When a flag's life step happens, or None when this flag skips it."""
        spec = self.s["flag_life"][step]
        if self.rng.random() >= spec["chance"]:
            return None
        low, high = spec["after"]
        return at + dt.timedelta(days=self.rng.randint(low, high), minutes=self.rng.randint(1, 600))

    def _event(self, at: dt.datetime, type_: str, flag: _Flag | None = None, environment: str | None = None,
               project: str | None = None, **data) -> None:
        user = self.rng.choice([u.id for u in self.users[:12] if not u.is_system] or [None])
        self.events.append(
            (at, next(self.sequence), type_, flag.name if flag else None, project or (flag.project if flag else None),
             environment, user, data.get("flag_type"), data.get("stale"), data.get("old_project"),
             data.get("new_project"), data.get("lifetime_days"), data.get("previous_lifetime_days"))
        )

    # ---- users and projects --------------------------------------------------------------------

    def _new_user(self, at: dt.datetime) -> None:
        rates = self.s["rates"]
        user = _User(len([u for u in self.users if not (u.is_service or u.is_system)]) + 1, at)
        low, high = rates["user_active_days"]
        user.active_until = at.date() + dt.timedelta(days=self.rng.randint(low, high))
        user.uses_tokens = self.rng.random() < rates["pat_user_share"]
        if self.rng.random() < rates["user_deleted_share"]:
            user.deleted_at = start_of_day(user.active_until) + dt.timedelta(days=self.rng.randint(10, 90), hours=15)
        self.users.append(user)
        self._event(at, "user-created")
        projects = [p["id"] for p in self.s["projects"]]
        for project in self.rng.sample(projects, k=self.rng.randint(0, 2)):
            self._join(project, user.id, at + dt.timedelta(days=self.rng.randint(0, 10)))
        if self.rng.random() < rates["group_join_share"]:
            group = self.rng.choice(self.s["groups"])
            joined = at + dt.timedelta(days=self.rng.randint(0, 30))
            for project in group["projects"]:
                self._join(project, user.id, joined)

    def _join(self, project: str, user_id: int, when: dt.datetime) -> None:
        """A project role from ``when`` (or the project's creation); the earliest role counts."""
        created = dt.datetime.fromisoformat(self._project(project)["created"] + "T08:30:00+00:00")
        since = max(when, created)
        self.memberships[(project, user_id)] = min(since, self.memberships.get((project, user_id), since))

    def _project(self, project: str) -> dict:
        return next(p for p in self.s["projects"] if p["id"] == project)

    def _on_project_created(self, at: dt.datetime, project: str) -> None:
        self._event(at, "project-created", project=project)

    def _on_project_archived(self, at: dt.datetime, project: str) -> None:
        for flag in self.flags.values():
            if flag.project == project and not flag.deleted and flag.archived_at is None:
                self._on_archive(at - dt.timedelta(hours=2), flag.name)
        self.project_archived[project] = at
        self._event(at, "project-archived", project=project)

    def _on_lifetime(self, at: dt.datetime, _: object) -> None:
        change = self.s["lifetime_change"]
        previous = self.lifetimes[change["flag_type"]]
        self.lifetimes[change["flag_type"]] = change["lifetime_days"]
        self._event(at, "feature-type-updated", flag_type=change["flag_type"], lifetime_days=change["lifetime_days"],
                    previous_lifetime_days=previous)

    def _listed_projects(self, at: dt.datetime) -> list[dict]:
        return [
            p for p in self.s["projects"]
            if p["weight"] > 0 and dt.datetime.fromisoformat(p["created"] + "T09:00:00+00:00") <= at
            and p["id"] not in self.project_archived
        ]

    # ---- a flag's life -------------------------------------------------------------------------

    def _on_create(self, at: dt.datetime, _: object) -> None:
        projects = self._listed_projects(at)
        project = self.rng.choices([p["id"] for p in projects], weights=[p["weight"] for p in projects])[0]
        types = self.s["flag_types"]
        flag_type = self.rng.choices(list(types), weights=[t["weight"] for t in types.values()])[0]
        apps = self.rng.sample(self.s["apps"]["names"], k=self.rng.randint(1, 3))
        low, high = self.s["apps"]["requests_per_day"]
        flag = _Flag(f"{project}.{flag_type}-{next(self.flag_numbers):04d}", project, flag_type, at, apps,
                     rate=float(np.exp(self.rng.uniform(np.log(low), np.log(high)))))
        self.flags[flag.name] = flag
        flag.stages["initial"] = at
        self._event(at, "feature-created", flag, flag_type=flag_type, stale=False)
        self._schedule(at + dt.timedelta(minutes=self.rng.randint(5, 240)), "enable", (flag.name, "development"))
        if (when := self._after(at, "staging")) is not None:
            self._schedule(when, "enable", (flag.name, "staging"))
        if (when := self._after(at, "production")) is not None:
            self._schedule(when, "enable", (flag.name, "production"))
            self._schedule(when + dt.timedelta(hours=self.rng.randint(1, 72)), "enable", (flag.name, "production-eu"))
        for step in ("stale", "type_change", "project_move", "strategy_updates"):
            if (when := self._after(at, step)) is not None:
                self._schedule(when, step, flag.name)
        if (when := self._after(at, "archive")) is not None:
            self._schedule(when, "archive", flag.name)
        removed = self.s["flag_life"]["code_removed"]
        if self.code_rng.random() < removed["chance"]:  # its code is gone: no SDK evaluates it any more
            flag.unused_from = at + dt.timedelta(days=self.code_rng.randint(*removed["after"]))
        constant = self.s["flag_life"]["constant"]
        if self.answer_rng.random() < constant["chance"]:  # every production user gets the same answer
            flag.answers = float(self.answer_rng.random() < constant["on"])

    def _live(self, name: str) -> _Flag | None:
        flag = self.flags.get(name)
        return flag if flag and not flag.deleted and flag.archived_at is None else None

    def _on_enable(self, at: dt.datetime, argument: tuple[str, str]) -> None:
        name, env = argument
        if (flag := self._live(name)) is None or env in flag.enabled:
            return
        self._event(at, "feature-strategy-add", flag, environment=env)
        self._event(at + dt.timedelta(seconds=20), "feature-environment-enabled", flag, environment=env)
        flag.enabled[env] = at + dt.timedelta(seconds=20)
        first_metrics = at + dt.timedelta(seconds=20, minutes=self.rng.randint(1, 5))
        flag.stages.setdefault("pre-live", first_metrics)
        if self.env_types[env] == "production":
            flag.stages.setdefault("live", first_metrics)
            if self.rng.random() < 0.1:
                self._schedule(at + dt.timedelta(days=self.rng.randint(1, 20)), "disable", (name, env))

    def _on_disable(self, at: dt.datetime, argument: tuple[str, str]) -> None:
        name, env = argument
        if (flag := self._live(name)) is None or env not in flag.enabled:
            return
        self._event(at, "feature-environment-disabled", flag, environment=env)
        self._close_span(flag, env, at)

    def _close_span(self, flag: _Flag, env: str, at: dt.datetime) -> None:
        self.enabled_spans.append((flag.name, env, flag.enabled.pop(env), at))

    def _on_stale(self, at: dt.datetime, name: str) -> None:
        if (flag := self._live(name)) is None:
            return
        flag.stale = True
        self._event(at, "feature-stale-on", flag)
        if (when := self._after(at, "stale_off")) is not None:
            self._schedule(when, "stale_off", name)

    def _on_stale_off(self, at: dt.datetime, name: str) -> None:
        if (flag := self._live(name)) is not None and flag.stale:
            flag.stale = False
            self._event(at, "feature-stale-off", flag)

    def _on_type_change(self, at: dt.datetime, name: str) -> None:
        if (flag := self._live(name)) is None:
            return
        flag.type = self.rng.choice([t for t in self.s["flag_types"] if t != flag.type])
        self._event(at, "feature-metadata-updated", flag, flag_type=flag.type, stale=flag.stale)

    def _on_project_move(self, at: dt.datetime, name: str) -> None:
        targets = [p["id"] for p in self._listed_projects(at)]
        if (flag := self._live(name)) is None or len(targets) < 2:
            return
        old = flag.project
        flag.project = self.rng.choice([p for p in targets if p != old])
        self._event(at, "feature-project-change", flag, old_project=old, new_project=flag.project)

    def _on_strategy_updates(self, at: dt.datetime, name: str) -> None:
        if (flag := self._live(name)) is None or not flag.enabled:
            return
        env = self.rng.choice(sorted(flag.enabled))
        self._event(at, self.rng.choice(["feature-strategy-update", "feature-environment-variants-updated"]), flag,
                    environment=env)
        if self.rng.random() < 0.5:
            self._schedule(at + dt.timedelta(days=self.rng.randint(3, 40)), "strategy_updates", name)

    def _on_archive(self, at: dt.datetime, name: str) -> None:
        if (flag := self._live(name)) is None:
            return
        for env in sorted(flag.enabled):
            self._close_span(flag, env, at)
        flag.archived_at = at
        flag.stages["archived"] = at
        self._event(at, "feature-archived", flag)
        if (when := self._after(at, "revive")) is not None:
            self._schedule(when, "revive", name)
        elif (when := self._after(at, "delete")) is not None:
            self._schedule(when, "delete", name)

    def _on_revive(self, at: dt.datetime, name: str) -> None:
        flag = self.flags.get(name)
        if flag is None or flag.deleted or flag.archived_at is None or flag.project in self.project_archived:
            return
        flag.archived_at = None
        flag.stages = {"initial": at}
        self._event(at, "feature-revived", flag)
        self._schedule(at + dt.timedelta(hours=self.rng.randint(1, 48)), "enable", (name, "development"))

    def _on_delete(self, at: dt.datetime, name: str) -> None:
        flag = self.flags.get(name)
        if flag is None or flag.deleted or flag.archived_at is None:
            return
        flag.deleted = True
        self._event(at, "feature-deleted", flag)

    # ---- tables --------------------------------------------------------------------------------

    def tables(self) -> dict[str, pa.Table]:
        events = sorted(e for e in self.events if e[0] < self.cutoff)
        flags = [f for f in self.flags.values() if not f.deleted]
        users = [u for u in self.users if u.created_at < self.cutoff]
        live_users = [u for u in users if not (u.deleted_at and u.deleted_at < self.cutoff)]
        projects = [p for p in self.s["projects"]
                    if dt.datetime.fromisoformat(p["created"] + "T08:30:00+00:00") < self.cutoff]
        columns = {
            "events": [
                list(range(1, len(events) + 1)), *[list(c) for c in zip(*[(e[0], *e[2:]) for e in events])]
            ] if events else [[]] * 13,
            "features": [
                [f.name for f in flags], [f.project for f in flags], [f.type for f in flags],
                [f.stale for f in flags], [self._potentially_stale(f) for f in flags],
                [f.created_at for f in flags], [f.archived_at for f in flags],
            ],
            "feature_types": [list(self.lifetimes), list(self.lifetimes.values())],
            "feature_environments": [
                [f.name for f in flags for e in self.env_types], [e for _ in flags for e in self.env_types],
                [e in f.enabled for f in flags for e in self.env_types],
            ],
            "environments": [list(self.env_types), list(self.env_types.values()), [True] * len(self.env_types)],
            "projects": [
                [p["id"] for p in projects],
                [dt.datetime.fromisoformat(p["created"] + "T08:30:00+00:00") for p in projects],
                [self.project_archived.get(p["id"]) for p in projects],
            ],
            "users": [
                [u.id for u in users], [u.created_at for u in users], [u.seen_at for u in users],
                [u.deleted_at if u.deleted_at and u.deleted_at < self.cutoff else None for u in users],
                [u.is_service for u in users], [u.is_system for u in users],
            ],
            "user_activity": [list(c) for c in zip(*sorted(self.activity))] if self.activity else [[]] * 3,
            "project_members": self._members(live_users),
            "feature_lifecycles": self._lifecycles(flags),
        }
        tables = {name: pa.table(cols, schema=ENTITIES[name].schema) for name, cols in columns.items()}
        tables.update(self._metrics())
        return tables

    def _unknown_flag_metrics(self, first_hourly: dt.date, hourly: list[tuple], daily: list[tuple]) -> None:
        """The rows of the names no flag ever had: each evaluated in production by one app every day
        from its ``since``, at noon where the day has hourly rows, drawn from (seed, day, 1)."""
        for day in days(min(dt.date.fromisoformat(u["since"]) for u in self.s["unknown_flags"]), self.as_of):
            draw = np.random.default_rng([self.seed, day.toordinal(), 1])
            for unknown in self.s["unknown_flags"]:
                if day < dt.date.fromisoformat(unknown["since"]):
                    continue
                requests = int(draw.poisson(unknown["requests_per_day"])) + 1
                yes = int(draw.binomial(requests, 0.5))
                row = (unknown["name"], unknown["app"], "production")
                if day < first_hourly:
                    daily.append((*row, day, yes, requests - yes))
                elif (noon := start_of_day(day) + dt.timedelta(hours=12)) < self.cutoff:
                    hourly.append((*row, noon, yes, requests - yes))

    def _potentially_stale(self, flag: _Flag) -> bool:
        lifetime = self.lifetimes.get(flag.type)
        return not flag.stale and lifetime is not None and self.cutoff > flag.created_at + dt.timedelta(days=lifetime)

    def _members(self, live_users: list[_User]) -> list[list]:
        alive = {u.id for u in live_users}
        rows = sorted((p, u, since) for (p, u), since in self.memberships.items() if u in alive and since < self.cutoff)
        return [list(c) for c in zip(*rows)] if rows else [[]] * 3

    def _lifecycles(self, flags: list[_Flag]) -> list[list]:
        rows = sorted((f.name, stage, at) for f in flags for stage, at in f.stages.items() if at < self.cutoff)
        return [list(c) for c in zip(*rows)] if rows else [[]] * 3

    def _metrics(self) -> dict[str, pa.Table]:
        """Hourly rows for the newest days, daily rows before them, for every enabled span.

        A span's counts on a day are drawn from a generator seeded by (seed, day), so a day's rows
        do not depend on how far the simulation ran.
        """
        spans = self.enabled_spans + [
            (f.name, env, since, None) for f in self.flags.values() for env, since in f.enabled.items()
        ]
        flags = self.flags
        first_hourly = self.as_of - dt.timedelta(days=self.s["hourly_metrics_days"] - 1)
        by_day: dict[dt.date, list[tuple]] = {}
        for name, env, since, until in spans:
            until = min(t for t in (until, flags[name].unused_from, self.cutoff) if t is not None)
            last = until - dt.timedelta(microseconds=1)
            if last < since:
                continue
            for day in days(since.date(), last.date()):
                first_hour = since.hour if day == since.date() else 0
                last_hour = last.hour if day == last.date() else 23
                for app in flags[name].apps:
                    by_day.setdefault(day, []).append((name, app, env, first_hour, last_hour))
        hourly, daily = [], []
        for day in sorted(by_day):
            rows = sorted(by_day[day])
            draw = np.random.default_rng([self.seed, day.toordinal()])
            rates = np.array([flags[r[0]].rate for r in rows]) * draw.lognormal(0.0, 0.3, len(rows))
            share = np.array([flags[r[0]].answers if self.env_types[r[2]] == "production" else 0.5 for r in rows])
            hours = np.array([r[4] - r[3] + 1 for r in rows])
            requests = (rates * hours / 24).astype(np.int64) + 1
            yes = draw.binomial(requests, share)
            if day < first_hourly:
                daily.extend((r[0], r[1], r[2], day, int(y), int(n - y)) for r, y, n in zip(rows, yes, requests))
                continue
            for (name, app, env, first_hour, _), span, y_total, n_total in zip(rows, hours, yes, requests - yes):
                by_hour = zip(draw.multinomial(y_total, [1 / span] * span), draw.multinomial(n_total, [1 / span] * span))
                for hour, (y, n) in enumerate(by_hour, start=first_hour):
                    if y + n:
                        hourly.append((name, app, env, start_of_day(day) + dt.timedelta(hours=hour), int(y), int(n)))
        self._unknown_flag_metrics(first_hourly, hourly, daily)
        return {
            "client_metrics": pa.table([list(c) for c in zip(*hourly)] if hourly else [[]] * 6,
                                       schema=ENTITIES["client_metrics"].schema),
            "client_metrics_daily": pa.table([list(c) for c in zip(*daily)] if daily else [[]] * 6,
                                             schema=ENTITIES["client_metrics_daily"].schema),
        }
