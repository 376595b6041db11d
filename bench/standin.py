"""A stand-in for Unleash's Admin API, serving a benchmark lake as an Unleash of that size would:
the routes the Admin API source reads (``pipeline/sources/unleash_api.py``), with Unleash's page
sizes, field names and orders, the data shifted so that the lake's last instant is now, and only
what existed by a moving ``cutoff``.

Why its figures carry over to a real Unleash: the source's requests follow from the instance's
size, not from the server: one page a day window of events (1,000 a page), one a 100 flags of the sweep (active, then
archived), one a flag whose lifecycle stage changed, one a flag evaluated since the last run (and
one more for daily metrics where Unleash keeps them), and a few for the small entities. The
stand-in answers the same pages for the same data. What differs is time: it answers from memory on
the same machine, where a real Unleash queries PostgreSQL (a feature search of 100 flags takes
Unleash tens of milliseconds), so its seconds are the source's own share, the least a run takes;
and it leaves out the zero rows Unleash pads its metrics grid with (the source drops them), so its
bytes are somewhat fewer. Nor does it limit the rate: Unleash 8.2 allows 15 feature searches a
minute by default, so against it each 15 pages of the sweep past the first 15 add a minute's wait.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict

import pyarrow.parquet as pq
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline.lake import Lake

VERSION = "7.6.5"


def _text(instant: dt.datetime | None) -> str | None:
    return instant.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z") if instant else None


class Standin:
    """The lake of ``data_dir`` served as Unleash's Admin API, shifted by ``shift``; set ``cutoff``
    (a shifted instant) to serve only what existed by then."""

    def __init__(self, data_dir: str, shift: dt.timedelta):
        lake, self.shift = Lake(data_dir), shift
        self.cutoff = dt.datetime.max.replace(tzinfo=dt.timezone.utc)

        def snapshot(entity: str) -> list[dict]:
            path = lake.latest_snapshot(entity)
            return pq.read_table(path).to_pylist() if path else []

        def shifted(row: dict, *columns: str) -> dict:
            return {**row, **{c: row[c] + shift for c in columns if row.get(c) is not None}}

        self.events = sorted((shifted(e, "created_at") for e in pq.read_table(lake.files("events")).to_pylist()),
                             key=lambda e: e["id"], reverse=True)
        self.event_instants = [-e["created_at"].timestamp() for e in self.events]  # ascending, for bisect
        self.flags = [shifted(f, "created_at", "archived_at") for f in snapshot("features")]
        self.types = snapshot("feature_types")
        self.environments = snapshot("environments")
        self.projects = [shifted(p, "created_at", "archived_at") for p in snapshot("projects")]
        self.users = [shifted(u, "created_at", "seen_at") for u in snapshot("users") if u["deleted_at"] is None]
        self.stages: dict[str, list[dict]] = defaultdict(list)
        for row in snapshot("feature_lifecycles"):
            self.stages[row["feature"]].append(shifted(row, "created_at"))
        self.hours: dict[str, list[tuple]] = defaultdict(list)  # flag -> (hour, app, environment, yes, no), by hour
        days = lake.day_files("client_metrics")
        for day in sorted(days)[-3:]:
            for r in pq.read_table(days[day]).to_pylist():
                self.hours[r["feature_name"]].append((r["timestamp"] + shift, r["app_name"], r["environment"], r["yes"],
                                                      r["no"]))
        for rows in self.hours.values():
            rows.sort(key=lambda r: r[0])
        self.app = Starlette(routes=[
            Route("/api/admin/ui-config", self.ui_config), Route("/api/admin/user-admin", self.user_admin),
            Route("/api/admin/feature-types", self.feature_types), Route("/api/admin/environments", self.envs),
            Route("/api/admin/projects", self.project_list), Route("/api/admin/search/features", self.search_features),
            Route("/api/admin/search/events", self.search_events),
            Route("/api/admin/projects/{project}/features/{flag}/lifecycle", self.lifecycle),
            Route("/api/admin/client-metrics/features/{flag}/raw", self.raw_metrics),
        ])

    async def ui_config(self, _: Request) -> JSONResponse:
        return JSONResponse({"versionInfo": {"current": {"oss": VERSION}}, "environment": "Open Source", "flags": {}})

    async def user_admin(self, _: Request) -> JSONResponse:
        return JSONResponse({"users": [{"id": u["id"], "createdAt": _text(u["created_at"]), "seenAt": _text(u["seen_at"])}
                                       for u in self.users if u["created_at"] <= self.cutoff]})

    async def feature_types(self, _: Request) -> JSONResponse:
        return JSONResponse({"types": [{"id": t["id"], "lifetimeDays": t["lifetime_days"]} for t in self.types]})

    async def envs(self, _: Request) -> JSONResponse:
        return JSONResponse({"environments": [{"name": e["name"], "type": e["type"], "enabled": e["enabled"]}
                                              for e in self.environments]})

    async def project_list(self, request: Request) -> JSONResponse:
        archived = request.query_params.get("archived") == "true"
        return JSONResponse({"projects": [
            {"id": p["id"], "createdAt": _text(p["created_at"]), "archivedAt": _text(p["archived_at"])}
            for p in self.projects if p["created_at"] <= self.cutoff and (p["archived_at"] is not None) == archived]})

    async def search_features(self, request: Request) -> JSONResponse:
        archived = request.query_params.get("archived") == "IS:true"
        chosen = [f for f in self.flags if f["created_at"] <= self.cutoff
                  and (f["archived_at"] is not None and f["archived_at"] <= self.cutoff) == archived]
        offset, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 50))
        return JSONResponse({"features": [self._flag(f) for f in chosen[offset:offset + limit]], "total": len(chosen)})

    def _flag(self, flag: dict) -> dict:
        hours = self.hours.get(flag["name"], [])
        seen: dict[str, dt.datetime] = {}
        for hour, _, environment, _, _ in hours[:bisect.bisect_left(hours, (self.cutoff,))]:
            seen[environment] = hour
        stages = [s for s in self.stages.get(flag["name"], []) if s["created_at"] <= self.cutoff]
        latest = max(stages, key=lambda s: s["created_at"], default=None)
        return {"name": flag["name"], "project": flag["project"], "type": flag["type"], "stale": flag["stale"],
                "createdAt": _text(flag["created_at"]), "archivedAt": _text(flag["archived_at"]),
                "environments": [{"name": e["name"], "lastSeenAt": _text(seen.get(e["name"]))} for e in self.environments],
                "lifecycle": {"stage": latest["stage"], "enteredStageAt": _text(latest["created_at"])} if latest else None}

    async def search_events(self, request: Request) -> JSONResponse:
        offset, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 50))
        kind = request.query_params.get("type", "").removeprefix("IS:")
        newest, oldest = bisect.bisect_left(self.event_instants, -self.cutoff.timestamp()), len(self.events)
        if "from" in request.query_params:  # a UTC day window, both ends inclusive (Unleash 6.4 on)
            first = dt.datetime.combine(dt.date.fromisoformat(request.query_params["from"].removeprefix("IS:")),
                                        dt.time(), dt.timezone.utc)
            after = dt.datetime.combine(dt.date.fromisoformat(request.query_params["to"].removeprefix("IS:")),
                                        dt.time(), dt.timezone.utc) + dt.timedelta(days=1)
            newest = max(newest, bisect.bisect_right(self.event_instants, -after.timestamp()))
            oldest = bisect.bisect_right(self.event_instants, -first.timestamp())
        window = self.events[newest:oldest]
        chosen = [e for e in window if e["type"] == kind] if kind else window
        return JSONResponse({"events": [self._event(e) for e in chosen[offset:offset + limit]], "total": len(chosen)})

    @staticmethod
    def _event(e: dict) -> dict:
        data = {"type": e["flag_type"], "stale": e["stale"]} if e["flag_type"] and e["type"] != "feature-type-updated" else {}
        if e["type"] == "feature-project-change":
            data = {"oldProject": e["old_project"], "newProject": e["new_project"]}
        return {"id": e["id"], "createdAt": _text(e["created_at"]), "type": e["type"], "featureName": e["feature_name"],
                "project": e["project"], "environment": e["environment"], "createdByUserId": e["created_by_user_id"],
                "data": data, "preData": None}

    async def lifecycle(self, request: Request) -> JSONResponse:
        return JSONResponse([{"stage": s["stage"], "enteredStageAt": _text(s["created_at"])}
                             for s in self.stages.get(request.path_params["flag"], []) if s["created_at"] <= self.cutoff])

    async def raw_metrics(self, request: Request) -> JSONResponse:
        hours = self.hours.get(request.path_params["flag"], [])
        since = self.cutoff - dt.timedelta(hours=int(request.query_params.get("hoursBack", 1)))
        chosen = hours[bisect.bisect_left(hours, (since,)):bisect.bisect_left(hours, (self.cutoff,))]
        return JSONResponse({"data": [{"featureName": request.path_params["flag"], "appName": app, "environment": env,
                                       "timestamp": _text(hour), "yes": yes, "no": no}
                                      for hour, app, env, yes, no in chosen]})
