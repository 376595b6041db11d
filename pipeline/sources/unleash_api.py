"""The Admin API source: an Unleash read over HTTP with an admin token (``--source https://…``).

It lands the lake's entities with the database source's columns, so nothing after the landing
knows which source it was (``pipeline/sources/admin_api.py`` holds the client and the probe):

* snapshots: flag types, environments, projects, users (``/api/admin/user-admin``), and the
  feature sweep (``/api/admin/search/features``, active and archived flags, 100 a page; before
  Unleash 6.4 the archived ones from ``/api/admin/archive/features``), which gives ``features`` and
  ``feature_environments``;
* events: a UTC day at a time (1,000 a page), from two days before the newest landed event's day
  through tomorrow (ids above the lake's watermark, each once); a closed day's ids must add up to
  Unleash's count of it, or the day is read again by event type. Before 6.4 the search ignores its
  dates: newest first, down to the watermark;
* lifecycle stages: one request a flag whose latest stage in the sweep is not the latest the lake
  holds for it (``…/features/<flag>/lifecycle``), at most ``concurrency`` at once;
* hourly metrics: one request a flag evaluated since the last landing (the sweep's
  ``lastSeenAt``, or an evaluation in the current hour), back to two hours before the watermark
  and at most 48 hours (Unleash keeps no more); the grid's zero rows dropped;
* Unleash's daily metrics, where it keeps them (``extendedUsageMetrics``): the same request with
  more than 48 hours back returns them, one row a closed day, up to 91 days.

Deleted users come from their ``user-created`` and ``user-deleted`` events. What the Admin API
cannot give is done without, said once in a warning: users deleted with no creation event (older
than the event log) and service accounts, deleted users' last logins, who a project's members are
(the project list counts them: they land as that many anonymous members, ``_project_members``),
logins other than each user's last, and daily metrics where Unleash keeps none.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.calendar import UTC
from pipeline.entities import ENTITIES
from pipeline.sources import SourceUnavailable
from pipeline.sources.admin_api import Instance, UnleashApi, base_url, probe, token_from_environment

log = logging.getLogger(__name__)

EVENT_SEARCH = "/api/admin/search/events"
PAGE_EVENTS, PAGE_FEATURES = 1000, 100
"""The page sizes to ask for: exactly the maxima (a larger one silently falls back to 50)."""
METRICS_HOURS = 48
DAILY_DAYS = 91
"""Unleash keeps hourly metrics 48 hours, and daily ones (where it keeps them) 91 days."""
EVENT_DAYS_AGAIN = 2
"""How many days before the newest landed event's a landing reads the events again: an event can
commit with an earlier instant than one landed, and a day is closed, its count checked, two days
after it (whatever the server's time zone, which draws its day windows)."""
DAY_WINDOWS = (6, 4, 0)
"""From 6.4 the event search filters by day (``from``, ``to``) and the feature search lists archived
flags (``archived=IS:true``; ``lifecycle=IS:archived`` from 8.0.1). Before, it ignores both."""
DONE_WITHOUT = ("the Admin API gives no service accounts, no deleted user older than the event log, no deleted "
                "user's last login, each project's members by count only (weeks before the first landing count "
                "none), and each user's last login only")
NO_DAILY = ("; and this Unleash keeps no daily metrics (extendedUsageMetrics is off): days before the first "
            "landing count no evaluations")
BEFORE_DAY_WINDOWS = ("; and before Unleash 6.4 archived flags show no environments (an archived flag lands with "
                      "none) and no day's count of events can be checked")


class UnleashApiSource:
    """An Unleash reached at ``url``; the token comes from the environment (``token_from_environment``)."""

    def __init__(self, url: str, concurrency: int = 4):
        self.url = base_url(url)
        self.concurrency = concurrency
        self.name = f"unleash-api({self.url})"
        self.counts: dict[str, float] = {}

    @contextmanager
    def session(self) -> Iterator["ApiSession"]:
        api = UnleashApi(self.url, token_from_environment(), concurrency=self.concurrency)
        try:
            instance = probe(api)
            log.info("reading Unleash %s (%s) at %s", ".".join(map(str, instance.version)), instance.edition, self.url)
            log.warning("reading %s: %s%s%s", self.url, DONE_WITHOUT, "" if instance.daily_metrics else NO_DAILY,
                        BEFORE_DAY_WINDOWS if instance.version < DAY_WINDOWS else "")
            yield ApiSession(api, instance)
        finally:
            self.counts = api.counts
            log.info("read %s: %d requests, %.1f MB in %.1f s (%.0f s waited for its rate limit)", self.url,
                     api.requests, api.bytes / 1e6, api.seconds, api.waited)
            api.close()


class ApiSession:
    """One read of every entity, as of the moment it began."""

    def __init__(self, api: UnleashApi, instance: Instance):
        self.api, self.instance = api, instance
        self.extracted_at = dt.datetime.now(UTC)
        self._swept: list[dict] | None = None
        self._answers: dict[str, Any] = {}
        self._landed: Callable[[str], str | None] = lambda entity: None
        self._newest_event: Callable[[], dt.datetime | None] = lambda: None

    def remember_landed(self, lake) -> None:
        """What the lake holds: the newest snapshot of each entity (lifecycle stages that did not change
        are taken from there instead of asked for again), and the newest event's instant (events are
        read from its day)."""
        self._landed, self._newest_event = lake.latest_snapshot, lake.last_event_at

    def read(self, entity: str, since: object | None) -> Iterable[pa.RecordBatch] | None:
        rows = getattr(self, f"_{entity}")(since)
        return None if rows is None else pa.Table.from_pylist(rows, ENTITIES[entity].schema).to_batches()

    # ---- snapshots ---------------------------------------------------------------------------

    def _feature_types(self, _) -> list[dict]:
        return [{"id": t["id"], "lifetime_days": t.get("lifetimeDays")} for t in self._once("/api/admin/feature-types")["types"]]

    def _environments(self, _) -> list[dict]:
        return [{"name": e["name"], "type": e["type"], "enabled": e.get("enabled", True)}
                for e in self.api.get("/api/admin/environments")["environments"]]

    def _projects(self, _) -> list[dict]:
        return [{"id": p["id"], "created_at": _instant(p.get("createdAt")), "archived_at": _instant(p.get("archivedAt"))}
                for p in self._project_list()]

    def _project_list(self) -> list[dict]:
        """Every project, active then archived (Pro and Enterprise list these apart), each once; asked once
        a session (projects and their members read it)."""
        return list({p["id"]: p for params in ({}, {"archived": "true"})
                     for p in self._once("/api/admin/projects", params)["projects"]}.values())

    def _users(self, _) -> list[dict]:
        live = [{"id": u["id"], "created_at": _instant(u.get("createdAt")), "seen_at": _instant(u.get("seenAt")),
                 "deleted_at": None, "is_service": False, "is_system": False} for u in self._user_list()]
        return live + self._deleted_users({u["id"] for u in live})

    def _deleted_users(self, live: set[int]) -> list[dict]:
        """The users deleted since, from the events: created when their ``user-created`` event says
        (a user older than the event log is left out), deleted at their ``user-deleted`` event; their
        last login is gone with them."""
        deleted = {e["preData"]["id"]: e for e in self._events_of("user-deleted")
                   if isinstance((e.get("preData") or {}).get("id"), int) and e["preData"]["id"] not in live}
        created = {e["data"]["id"]: e for e in self._events_of("user-created")
                   if (e.get("data") or {}).get("id") in deleted} if deleted else {}
        return [{"id": user, "created_at": _instant(created[user]["createdAt"]), "seen_at": None,
                 "deleted_at": _instant(event["createdAt"]), "is_service": False, "is_system": False}
                for user, event in sorted(deleted.items()) if user in created]

    def _events_of(self, kind: str) -> list[dict]:
        return self._event_listing({"type": f"IS:{kind}"})[0]

    def _user_activity(self, since) -> list[dict]:
        return [{"user_id": u["id"], "seen_at": seen, "kind": "login"} for u in self._user_list()
                if (seen := _instant(u.get("seenAt"))) is not None and (since is None or seen >= since)]

    def _user_list(self) -> list[dict]:
        return self._once("/api/admin/user-admin")["users"]

    def _once(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The answer to a GET that two entities read (users and their activity; flag types and the
        flags' lifetimes; projects and their members), asked once a session."""
        asked = (path, tuple(sorted((params or {}).items())))
        if asked not in self._answers:
            self._answers[asked] = self.api.get(path, params)
        return self._answers[asked]

    def _project_members(self, _) -> list[dict]:
        """Each project's members as that many anonymous ones (ids -1, -2, …): the project list says
        how many (``memberCount``, counted as the database source counts them), not who. Member n of a
        project is a member since the landing that first counted n (kept from the lake's last
        snapshot), so that a week counts a project's members as of its snapshot, and the weeks before
        the first landing count none."""
        landed = {}
        if (path := self._landed("project_members")) is not None:
            landed = {(r["project"], r["user_id"]): r["since"]
                      for r in pq.read_table(path, columns=["project", "user_id", "since"]).to_pylist()}
        return [{"project": p["id"], "user_id": -n, "since": landed.get((p["id"], -n), self.extracted_at)}
                for p in self._project_list() for n in range(1, int(p.get("memberCount") or 0) + 1)]

    def _features(self, _) -> list[dict]:
        lifetimes = {t["id"]: t["lifetime_days"] for t in self._feature_types(None)}
        rows = []
        for f in self._sweep():
            created, lifetime = _instant(f["createdAt"]), lifetimes.get(f["type"])
            rows.append({"name": f["name"], "project": f["project"], "type": f["type"], "stale": bool(f.get("stale")),
                         "potentially_stale": bool(lifetime) and not f.get("stale")
                         and created + dt.timedelta(days=lifetime) < self.extracted_at,
                         "created_at": created, "archived_at": _instant(f.get("archivedAt"))})
        return rows

    def _feature_environments(self, _) -> list[dict]:
        return [{"feature_name": f["name"], "environment": e["name"], "enabled": bool(e.get("enabled"))}
                for f in self._sweep() for e in f.get("environments", [])]

    def _sweep(self) -> list[dict]:
        """Every flag, active then archived, as the feature search lists them (read once a session)."""
        if self._swept is None:
            archived = {"lifecycle": "IS:archived"} if self.instance.version >= (8, 0, 1) else {"archived": "IS:true"}
            flags = {}
            for filters in ({}, archived) if self.instance.version >= DAY_WINDOWS else ({},):
                for flag in self._listing("/api/admin/search/features", "features", PAGE_FEATURES, filters)[0]:
                    flags[flag["name"]] = flag
            if self.instance.version < DAY_WINDOWS:  # one answer, no paging; environments only where seen
                flags.update((f["name"], f) for f in self.api.get("/api/admin/archive/features")["features"])
            self._swept = list(flags.values())
        return self._swept

    # ---- events, lifecycles, metrics -----------------------------------------------------------

    def _events(self, since) -> list[dict]:
        """The events above id ``since``, each once, read a day window at a time (``concurrency`` at
        once) from ``EVENT_DAYS_AGAIN`` days before the newest landed event's day (the first event's,
        on a first landing) through tomorrow (a server ahead of UTC draws its days ahead)."""
        if self.instance.version < DAY_WINDOWS:
            return self._events_down_to(since)
        newest = self._newest_event() if since is not None else self._first_event()
        if newest is None:
            return []
        first, today = newest.date() - dt.timedelta(days=EVENT_DAYS_AGAIN), self.extracted_at.date()
        days = [first + dt.timedelta(days=n) for n in range((today - first).days + 2)]
        found = {e["id"]: e for e in self._each(self._day_events, days) if since is None or e["id"] > since}
        return [_event(found[i]) for i in sorted(found)]

    def _events_down_to(self, since) -> list[dict]:
        """Before Unleash 6.4: the events above id ``since``, newest first until a page reaches it,
        each id once. Events sharing an instant may fall between two pages unseen (Unleash orders by
        instant alone before 7.0.5, and no day's count can be asked for)."""
        found: dict[int, dict] = {}
        offset = 0
        while True:
            page = self.api.get(EVENT_SEARCH, {"limit": PAGE_EVENTS, "offset": offset})["events"]
            found.update((e["id"], e) for e in page if since is None or e["id"] > since)
            if len(page) < PAGE_EVENTS or (since is not None and min(e["id"] for e in page) <= since):
                return [_event(found[i]) for i in sorted(found)]
            offset += PAGE_EVENTS

    def _first_event(self) -> dt.datetime | None:
        """The instant of the instance's first event (the last of its newest-first order), or None."""
        total = self.api.get(EVENT_SEARCH, {"limit": 1})["total"]
        oldest = self.api.get(EVENT_SEARCH, {"limit": 1, "offset": total - 1})["events"] if total else []
        return _instant(oldest[0]["createdAt"]) if oldest else None

    def _day_events(self, day: dt.date) -> list[dict]:
        """The events of one of the server's day windows. A closed day's (``EVENT_DAYS_AGAIN`` days
        past) ids must be as many as Unleash counts for it: before 7.0.5 events sharing an instant can
        fall between two pages, so where they are not the day is read again a type at a time, and a
        day that still does not add up is unavailable for now (nothing of the landing is kept)."""
        window = {"from": f"IS:{day.isoformat()}", "to": f"IS:{day.isoformat()}"}
        events, total = self._event_listing(window)
        if day > self.extracted_at.date() - dt.timedelta(days=EVENT_DAYS_AGAIN) or len({e["id"] for e in events}) == total:
            return events
        by_type = {e["id"]: e for kind in sorted({e["type"] for e in events})
                   for e in self._event_listing({**window, "type": f"IS:{kind}"})[0]}
        if len(by_type) != total:
            raise SourceUnavailable(f"{self.api.base}: Unleash counts {total} events on {day.isoformat()} but "
                                    f"{len(by_type)} could be read, even a type at a time; nothing was landed, try again later")
        return list(by_type.values())

    def _feature_lifecycles(self, _) -> list[dict]:
        landed: dict[str, list[dict]] = {}
        if (path := self._landed("feature_lifecycles")) is not None:
            for row in pq.read_table(path, columns=["feature", "stage", "created_at"]).to_pylist():
                landed.setdefault(row["feature"], []).append(row)

        newest = self._newest_event()

        def stages(flag: dict) -> list[dict]:
            if "lifecycle" not in flag and flag.get("archivedAt"):  # before 6.4, the archive's list shows no
                unchanged = newest is not None and _instant(flag["archivedAt"]) <= newest  # stage: asked for
            else:  # until the lake has seen the flag archived
                unchanged = _same_latest_stage(flag.get("lifecycle"), landed.get(flag["name"]))
            if unchanged:
                return landed.get(flag["name"], [])
            path = f"/api/admin/projects/{quote(flag['project'], safe='')}/features/{quote(flag['name'], safe='')}/lifecycle"
            return [{"feature": flag["name"], "stage": s["stage"], "created_at": _instant(s["enteredStageAt"])}
                    for s in self.api.get(path)]
        return self._each(stages, self._sweep())

    def _client_metrics(self, since) -> list[dict]:
        """Each hour's evaluations of the flags evaluated since two hours before ``since``."""
        start = self.extracted_at - dt.timedelta(hours=METRICS_HOURS) if since is None else since - dt.timedelta(hours=2)
        hours = min(METRICS_HOURS, math.ceil((self.extracted_at - start).total_seconds() / 3600))
        rows = self._metrics(self._seen_since(start), hours)
        kept_from = (self.extracted_at - dt.timedelta(hours=METRICS_HOURS)).replace(minute=0, second=0, microsecond=0)
        if since is not None and since < kept_from:
            log.warning("the hourly metrics from %s to %s UTC are gone from Unleash, which keeps %d hours: those hours "
                        "count no evaluations (run at least daily)", f"{since:%Y-%m-%d %H:00}", f"{kept_from:%Y-%m-%d %H:00}",
                        METRICS_HOURS)
        return [r for r in rows if since is None or r["timestamp"] >= since]

    def _client_metrics_daily(self, since) -> list[dict] | None:
        """Unleash's daily rows, where it keeps them (``extendedUsageMetrics``): the closed days from
        ``since`` on, at most ``DAILY_DAYS`` back, of the flags seen since then. None where it keeps none."""
        if not self.instance.daily_metrics:
            return None
        today = self.extracted_at.date()
        first = max(since or dt.date.min, today - dt.timedelta(days=DAILY_DAYS))
        hours = max(METRICS_HOURS + 1, min(DAILY_DAYS, (today - first).days + 1) * 24)  # over 48: daily rows
        rows = self._metrics(self._seen_since(dt.datetime.combine(first, dt.time(), UTC)), hours)
        return [{**{k: v for k, v in r.items() if k != "timestamp"}, "date": r["timestamp"].date()}
                for r in rows if r["timestamp"].date() >= first and r["timestamp"].date() < today]

    def _seen_since(self, start: dt.datetime) -> list[dict]:
        """The flags evaluated since ``start``: seen then in an environment (``lastSeenAt``), or this hour."""
        return [f for f in self._sweep() if any(
            (seen := _instant(e.get("lastSeenAt"))) is not None and seen >= start or e.get("yes", 0) + e.get("no", 0) > 0
            for e in f.get("environments", []))]

    def _metrics(self, flags: list[dict], hours: int) -> list[dict]:
        """The metrics rows of ``flags`` for the last ``hours`` (hourly rows up to 48, Unleash's daily
        rows beyond, stamped at the end of their day), the grid's zero rows dropped."""
        def rows(flag: dict) -> list[dict]:
            answer = self.api.get(f"/api/admin/client-metrics/features/{quote(flag['name'], safe='')}/raw",
                                  {"hoursBack": hours})
            return [{"feature_name": r["featureName"], "app_name": r["appName"], "environment": r["environment"],
                     "timestamp": _instant(r["timestamp"]), "yes": r["yes"], "no": r["no"]}
                    for r in answer["data"] if r.get("yes", 0) + r.get("no", 0) > 0]
        return self._each(rows, flags)

    def _each(self, read, items: list) -> list[dict]:
        """``read`` of each item (a flag, a day), ``concurrency`` at once (the client holds the limit),
        in the items' order."""
        with ThreadPoolExecutor(max(1, self.api.concurrency)) as pool:
            return [row for rows in pool.map(read, items) for row in rows]

    def _event_listing(self, filters: dict[str, str]) -> tuple[list[dict], int]:
        """Every event the search finds with ``filters``, a page of 1,000 at a time, and its total."""
        return self._listing(EVENT_SEARCH, "events", PAGE_EVENTS, filters)

    def _listing(self, path: str, key: str, size: int, filters: dict[str, str]) -> tuple[list[dict], int]:
        """Every item of a paged listing, ``size`` a page, and the total its last page counts."""
        items, offset = [], 0
        while True:
            answer = self.api.get(path, {**filters, "limit": size, "offset": offset})
            items += answer[key]
            offset += size
            if len(answer[key]) < size or offset >= answer.get("total", offset):
                return items, answer.get("total", len(items))


def _same_latest_stage(swept: dict | None, landed: list[dict] | None) -> bool:
    """Whether the sweep's latest stage of a flag (stage, entered at) is one the lake holds at the latest
    instant it has for the flag (a flag with no stage shown and none landed, one older than Unleash's
    lifecycles, has nothing to ask). Unleash keeps milliseconds; two stages may share one (a flag archived
    and revived at once), and then its list shows either."""
    if not swept or not swept.get("enteredStageAt"):
        return not landed
    if not landed:
        return False
    held = {(row["stage"], row["created_at"].replace(microsecond=row["created_at"].microsecond // 1000 * 1000))
            for row in landed}
    latest = max(entered for _, entered in held)
    return (swept["stage"], _instant(swept["enteredStageAt"])) in held and _instant(swept["enteredStageAt"]) == latest


def _event(e: dict[str, Any]) -> dict:
    """An event with the database source's columns: only the fields of data and preData the trends read."""
    data, before, kind = e.get("data") or {}, e.get("preData") or {}, e["type"]
    flag_event = kind in ("feature-created", "feature-import", "feature-metadata-updated")
    return {
        "id": e["id"], "created_at": _instant(e["createdAt"]), "type": kind, "feature_name": e.get("featureName"),
        "project": e.get("project"), "environment": e.get("environment"), "created_by_user_id": e.get("createdByUserId"),
        "flag_type": data.get("type") if flag_event else data.get("id") if kind == "feature-type-updated" else None,
        "stale": data.get("stale") if flag_event and isinstance(data.get("stale"), bool) else None,
        "old_project": data.get("oldProject") if kind == "feature-project-change" else None,
        "new_project": data.get("newProject") if kind == "feature-project-change" else None,
        "lifetime_days": _days(data.get("lifetimeDays")) if kind == "feature-type-updated" else None,
        "previous_lifetime_days": _days(before.get("lifetimeDays")) if kind == "feature-type-updated" else None,
    }


def _days(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else None


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC) if text else None
