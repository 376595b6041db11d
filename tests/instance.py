"""A tiny hand-made Unleash instance for tests: write a scenario in the spec's words, land it.

Each method records what Unleash would: the event, and the change to the current tables (the
snapshot the lake lands). Instants are written ``"2025-01-06T10:00"`` and are UTC.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from pipeline import job
from pipeline.calendar import UTC
from pipeline.entities import ENTITIES
from pipeline.lake import Lake
from pipeline.sources.base import TableSession


def at(text: str) -> dt.datetime:
    """A UTC instant from ``YYYY-MM-DDTHH:MM[:SS[.fff]]`` (or a bare day, meaning its midnight)."""
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Instance:
    """An Unleash instance built step by step; ``land`` writes it to a data directory's lake."""

    def __init__(self, lifetimes: dict[str, int | None] | None = None):
        self.events: list[dict] = []
        self.flags: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.environments = {"development": "development", "production": "production"}
        self.lifetimes = lifetimes or {"release": 40, "experiment": 40, "operational": 7, "kill-switch": None}
        self.users: dict[int, dict] = {}
        self.activity: list[tuple] = []
        self.members: list[tuple] = []
        self.lifecycles: list[tuple] | None = None
        self.hourly: list[tuple] = []
        self.daily: list[tuple] = []

    # ---- events ---------------------------------------------------------------------------------

    def event(self, type_: str, when: str, **columns) -> None:
        self.events.append({"type": type_, "created_at": at(when), **columns})

    def project(self, project: str, created: str = "2024-12-02T09:00") -> None:
        self.projects[project] = {"id": project, "created_at": at(created), "archived_at": None}
        self.event("project-created", created, project=project)

    def archive_project(self, project: str, when: str) -> None:
        self.projects[project]["archived_at"] = at(when)
        self.event("project-archived", when, project=project)

    def revive_project(self, project: str, when: str) -> None:
        self.projects[project]["archived_at"] = None
        self.event("project-revived", when, project=project)

    def environment(self, name: str, type_: str) -> None:
        self.environments[name] = type_

    def flag(self, name: str, project: str, created: str, type_: str = "release") -> None:
        self.flags[name] = {"name": name, "project": project, "type": type_, "stale": False,
                            "created_at": at(created), "archived_at": None}
        self.event("feature-created", created, feature_name=name, project=project, flag_type=type_, stale=False)

    def _flag_event(self, name: str, type_: str, when: str, **columns) -> None:
        self.event(type_, when, feature_name=name, project=self.flags[name]["project"], **columns)

    def archive(self, name: str, when: str) -> None:
        self.flags[name]["archived_at"] = at(when)
        self._flag_event(name, "feature-archived", when)

    def revive(self, name: str, when: str) -> None:
        self.flags[name]["archived_at"] = None
        self._flag_event(name, "feature-revived", when)

    def delete(self, name: str, when: str) -> None:
        self._flag_event(name, "feature-deleted", when)
        del self.flags[name]

    def stale(self, name: str, when: str, on: bool = True) -> None:
        self.flags[name]["stale"] = on
        self._flag_event(name, "feature-stale-on" if on else "feature-stale-off", when)

    def update_metadata(self, name: str, when: str, type_: str | None = None, stale: bool | None = None) -> None:
        flag = self.flags[name]
        flag["type"] = type_ or flag["type"]
        flag["stale"] = flag["stale"] if stale is None else stale
        self._flag_event(name, "feature-metadata-updated", when, flag_type=flag["type"], stale=flag["stale"])

    def move(self, name: str, when: str, to: str) -> None:
        old = self.flags[name]["project"]
        self.flags[name]["project"] = to
        self.event("feature-project-change", when, feature_name=name, project=to, old_project=old, new_project=to)

    def enable(self, name: str, environment: str, when: str, on: bool = True) -> None:
        kind = "feature-environment-enabled" if on else "feature-environment-disabled"
        self._flag_event(name, kind, when, environment=environment)

    def change_lifetime(self, flag_type: str, when: str, days: int | None) -> None:
        previous = self.lifetimes[flag_type]
        self.lifetimes[flag_type] = days
        self.event("feature-type-updated", when, flag_type=flag_type, lifetime_days=days, previous_lifetime_days=previous)

    # ---- users, members, lifecycle, metrics -----------------------------------------------------

    def user(self, user_id: int, created: str, deleted: str | None = None, service: bool = False,
             system: bool = False) -> None:
        self.users[user_id] = {"id": user_id, "created_at": at(created), "seen_at": None,
                               "deleted_at": at(deleted) if deleted else None, "is_service": service, "is_system": system}

    def seen(self, user_id: int, when: str, kind: str = "login") -> None:
        self.activity.append((user_id, at(when), kind))

    def member(self, project: str, user_id: int, since: str) -> None:
        self.members.append((project, user_id, at(since)))

    def lifecycle(self, name: str, stage: str, when: str) -> None:
        self.lifecycles = (self.lifecycles or []) + [(name, stage, at(when))]

    def metrics(self, name: str, app: str, environment: str, hour: str, yes: int, no: int) -> None:
        self.hourly.append((name, app, environment, at(hour), yes, no))

    def daily_metrics(self, name: str, app: str, environment: str, day: str, yes: int, no: int) -> None:
        self.daily.append((name, app, environment, dt.date.fromisoformat(day), yes, no))

    # ---- landing --------------------------------------------------------------------------------

    def tables(self) -> dict[str, pa.Table]:
        events = sorted(self.events, key=lambda e: e["created_at"])
        tables = {
            "events": _rows("events", [{"id": n, **e} for n, e in enumerate(events, start=1)]),
            "features": _rows("features", [{**f, "potentially_stale": False} for f in self.flags.values()]),
            "feature_types": _rows("feature_types", [{"id": k, "lifetime_days": v} for k, v in self.lifetimes.items()]),
            "feature_environments": _rows("feature_environments", []),
            "environments": _rows("environments", [{"name": k, "type": v, "enabled": True}
                                                   for k, v in self.environments.items()]),
            "projects": _rows("projects", list(self.projects.values())),
            "users": _rows("users", list(self.users.values())),
            "user_activity": _tuples("user_activity", self.activity),
            "project_members": _tuples("project_members", self.members),
            "client_metrics": _tuples("client_metrics", self.hourly),
            "client_metrics_daily": _tuples("client_metrics_daily", self.daily),
        }
        if self.lifecycles is not None:
            tables["feature_lifecycles"] = _tuples("feature_lifecycles", self.lifecycles)
        return tables

    def land(self, data_dir: Path, extracted_at: str = "2026-01-01T00:00") -> Lake:
        """Land the instance as it stands into ``data_dir``'s lake."""
        lake = Lake(data_dir)
        lake.land(TableSession(self.tables(), at(extracted_at)), "test-instance")
        return lake

    def insights(self, data_dir: Path, first: str, last: str) -> dict:
        """Land the instance, then the insights document for ``first``..``last``."""
        self.land(data_dir)
        return job.export(data_dir, dt.date.fromisoformat(first), dt.date.fromisoformat(last))


def _rows(entity: str, rows: list[dict]) -> pa.Table:
    schema = ENTITIES[entity].schema
    return pa.table({name: [row.get(name) for row in rows] for name in schema.names}, schema=schema)


def _tuples(entity: str, rows: list[tuple]) -> pa.Table:
    schema = ENTITIES[entity].schema
    return pa.table([list(column) for column in zip(*rows)] if rows else [[]] * len(schema), schema=schema)


def by(rows: list[dict], *keys: str) -> dict:
    """Rows of a document array keyed by the values of ``keys`` (a single key gives bare values)."""
    return {(r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)): r for r in rows}


def day(document: dict, array: str, date: str) -> dict:
    """The daily row of ``array`` for a day (``YYYY-MM-DD``)."""
    return by(document[array], "date")[f"{date}T23:59:59.999Z"]
