"""The Admin API client and probe (pipeline/sources/admin_api.py): against a real Unleash 8 from npm,
and against a stand-in server that misbehaves in the ways a network and a proxy do."""

import datetime as dt
import http.server
import json
import os
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import job
from pipeline.entities import ENTITIES
from pipeline.lake import Lake

from pipeline.sources.admin_api import UnleashApi, base_url, probe, token_from_environment
from pipeline.sources.base import SourceRefused, SourceUnavailable
from tests import unleash_server
from tests.web import handling

VERSION = "8.2.0"
OLDER = "7.6.5"  # Unleash 7's newest: archived flags are listed with another filter there
OLDEST = "6.3.0"  # before 6.4: no dates in the event search, archived flags from the archive's own list


@pytest.fixture(scope="module")
def unleash(postgres):
    if unleash_server.npm() is None:
        message = "npm is not installed (apt-get install npm): the tests install Unleash with it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with unleash_server.serving(postgres.create_database("unleash_api_probe"), VERSION) as instance:
        yield instance


def test_the_probe_reads_a_real_unleashs_version_and_edition_with_an_admin_token(unleash):
    api = UnleashApi(unleash.url, unleash_server.ADMIN_TOKEN)
    found = probe(api)
    assert (found.version, found.edition, found.daily_metrics) == ((8, 2, 0), "Open Source", False)
    assert api.counts["requests"] == 2 and api.counts["bytes"] > 1000  # ui-config and user-admin


@pytest.mark.parametrize("token, words", [
    (unleash_server.CLIENT_TOKEN, "answered 403: the token is not an admin's"),
    ("*:*.not-a-token-at-all", "refused the token (401)"),
])
def test_a_token_that_is_not_an_admins_is_refused_in_one_line_without_itself(unleash, token, words):
    with pytest.raises(SourceRefused) as refused:
        probe(UnleashApi(unleash.url, token))
    assert words in str(refused.value) and token not in str(refused.value) and "\n" not in str(refused.value)


@contextmanager
def stand_in(answers):
    """A local HTTP server answering each GET with the next of ``answers``: (status, headers, body,
    seconds to wait first), or "drop" to close the connection unanswered. Yields (URL, requests seen)."""
    seen, answers = [], list(answers)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if answer == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, body, wait = answer
            time.sleep(wait)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body[:int(headers.get("X-Cut", len(body)))])

        def log_message(self, *_):
            pass

    with handling(Handler) as port:
        yield f"http://127.0.0.1:{port}", seen


JSON = {"Content-Type": "application/json"}
OK = (200, JSON, b'{"ok": true}', 0)


def api(url, **options):
    return UnleashApi(url, "*:*.secret-admin-token", **{"backoff": 0.05, **options})


def test_429_is_retried_after_the_wait_it_asks_for():
    with stand_in([(429, {"Retry-After": "1"}, b"", 0), OK]) as (url, seen):
        began = time.monotonic()
        assert api(url).get("/api/admin/features") == {"ok": True}
    assert time.monotonic() - began >= 1 and len(seen) == 2
    assert seen[0] == ("/api/admin/features", "*:*.secret-admin-token")  # the token travels in the header only


@pytest.mark.parametrize("failures", [
    [(500, {}, b"oops", 0), (502, {}, b"", 0), (503, {}, b"", 0)],
    ["drop", "drop"],
    [(200, {**JSON, "X-Cut": "5"}, b'{"ok": true}', 0)],  # a JSON body cut short on the way
])
def test_server_errors_dropped_connections_and_cut_bodies_are_retried(failures):
    with stand_in([*failures, OK]) as (url, seen):
        client = api(url)
        assert client.get("/x") == {"ok": True}
    assert len(seen) == len(failures) + 1 and client.counts["requests"] == len(failures) + 1


def test_a_spent_rate_limit_is_waited_for_before_the_next_request_not_run_into():
    # Unleash 8.2 allows 15 feature searches a minute: the 15th answer says none remain, renewed in a second here
    spent = (200, {**JSON, "RateLimit-Limit": "15", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"},
             b'{"features": []}', 0)
    with stand_in([spent, OK]) as (url, seen):
        client = api(url)
        client.get("/api/admin/search/features")
        began = time.monotonic()
        assert client.get("/api/admin/search/features") == {"ok": True}
        waited = time.monotonic() - began
        assert client.get("/api/admin/search/events") == {"ok": True}  # another address's limit is its own
    assert waited >= 0.9 and len(seen) == 3 and 0.9 <= client.counts["waited_seconds"] < 2


def test_what_keeps_failing_is_unavailable_after_the_retries_in_one_line():
    with stand_in([(503, {}, b"", 0)]) as (url, seen):
        with pytest.raises(SourceUnavailable, match=r"/x: answered 503, 3 times; nothing was landed, try again later"):
            api(url, retries=2).get("/x")
    assert len(seen) == 3
    with stand_in([(200, JSON, b"{}", 2)]) as (url, seen):  # a slow server: each try times out
        with pytest.raises(SourceUnavailable, match="no answer in time, 2 times"):
            api(url, retries=1, timeout=0.3).get("/x")


@pytest.mark.parametrize("answer, words", [
    ((200, {"Content-Type": "text/html"}, b"<html>a router's page</html>", 0), "did not answer JSON: is http"),
    ((404, {}, b"", 0), "is not there (404): is this the address of an Unleash 6.1 or later?"),
    ((200, JSON, json.dumps({"versionInfo": {"current": {"oss": "6.0.9"}}}).encode(), 0), "is Unleash 6.0.9; its Admin API "
     "can be read from 6.1 on"),
    ((200, JSON, b'{"name": "something else"}', 0), "does not say which Unleash it is"),
])
def test_what_is_not_a_readable_unleash_is_refused_in_one_line(answer, words):
    with stand_in([answer]) as (url, _):
        with pytest.raises(SourceRefused) as refused:
            probe(api(url))
    assert words in str(refused.value) and "secret-admin-token" not in str(refused.value)


def test_at_most_the_concurrency_limit_of_requests_are_in_flight():
    inside, most, lock = [0], [0], threading.Lock()

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.2)
            with lock:
                inside[0] -= 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_):
            pass

    with handling(Counting) as port:
        client = api(f"http://127.0.0.1:{port}", concurrency=3)
        threads = [threading.Thread(target=client.get, args=("/x",)) for _ in range(9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert most[0] == 3 and client.counts["requests"] == 9


def test_the_token_comes_from_the_environment_or_a_file_never_the_address(tmp_path, monkeypatch):
    monkeypatch.delenv("INSIGHTS_UNLEASH_TOKEN", raising=False)
    monkeypatch.delenv("INSIGHTS_UNLEASH_TOKEN_FILE", raising=False)
    with pytest.raises(SourceRefused, match="needs an admin token: set INSIGHTS_UNLEASH_TOKEN"):
        token_from_environment()
    (tmp_path / "token").write_text("user:abc123\n")
    monkeypatch.setenv("INSIGHTS_UNLEASH_TOKEN_FILE", str(tmp_path / "token"))
    assert token_from_environment() == "user:abc123"
    monkeypatch.setenv("INSIGHTS_UNLEASH_TOKEN", " env-token ")
    assert token_from_environment() == "env-token"
    assert base_url("https://unleash.example.com/unleash/") == "https://unleash.example.com/unleash"
    with pytest.raises(SourceRefused, match="not in the address"):
        base_url("https://admin:secret@unleash.example.com")


class TiedEventSearch:
    """Unleash 7.0's event search, in memory: a day window's events newest first by their instant alone,
    so that events sharing an instant (a batch stored at once) come in another order at each request,
    and a page boundary can drop some of them and repeat others."""

    base, concurrency = "http://unleash.test", 2

    def __init__(self, events: list[dict]):
        self.events, self.random, self.asked = events, random.Random(7), []

    def get(self, path: str, params: dict) -> dict:
        assert path == "/api/admin/search/events"
        self.asked.append(params)
        chosen = [e for e in self.events if params.get("type", "IS:" + e["type"]) == "IS:" + e["type"]
                  and params.get("from", "IS:" + e["createdAt"][:10]) <= "IS:" + e["createdAt"][:10]
                  <= params.get("to", "IS:" + e["createdAt"][:10])]
        self.random.shuffle(chosen)
        chosen.sort(key=lambda e: e["createdAt"], reverse=True)  # stable: ties stay shuffled
        offset = params.get("offset", 0)
        return {"events": chosen[offset:offset + params["limit"]], "total": len(chosen)}


def _batch(first_id: int, count: int, kind: str, at: dt.datetime) -> list[dict]:
    return [{"id": i, "createdAt": at.isoformat().replace("+00:00", "Z"), "type": kind, "featureName": f"f{i}",
             "project": "default"} for i in range(first_id, first_id + count)]


def test_a_closed_days_events_that_fall_between_pages_are_read_again_a_type_at_a_time():
    from pipeline.sources.admin_api import Instance
    from pipeline.sources.unleash_api import ApiSession

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    closed = now.replace(hour=9, minute=0, second=0) - dt.timedelta(days=5)
    # 1,500 events of one instant five days ago, two types of 750: more than a page of 1,000
    events = _batch(1, 750, "feature-created", closed) + _batch(751, 750, "feature-updated", closed)
    events += _batch(1501, 3, "feature-stale-on", now)  # today's: the day is still open
    search = TiedEventSearch(events)
    session = ApiSession(search, Instance((7, 0, 3), "Open Source", False))
    landed = session.read("events", None)
    assert [row["id"] for batch in landed for row in batch.to_pylist()] == list(range(1, 1504))
    assert {"from": f"IS:{closed.date()}", "to": f"IS:{closed.date()}", "type": "IS:feature-updated",
            "limit": 1000, "offset": 0} in search.asked  # the closed day did not add up page by page
    # one type of 1,500 tied events cannot be read whole whatever the pages: nothing is landed, said once
    search = TiedEventSearch(_batch(1, 1500, "feature-created", closed))
    with pytest.raises(SourceUnavailable, match=rf"Unleash counts 1500 events on {closed.date()} but 1[0-4]\d\d could be "
                                                r"read, even a type at a time; nothing was landed, try again later"):
        ApiSession(search, Instance((7, 0, 3), "Open Source", False)).read("events", None)
    # a later landing reads from two days before the newest landed event's day, and keeps only new ids
    search = TiedEventSearch(events + _batch(1504, 2, "feature-archived", now))
    session = ApiSession(search, Instance((8, 2, 0), "Open Source", False))
    session.remember_landed(type("Landed", (), {"latest_snapshot": lambda self, e: None,
                                                "last_event_at": lambda self: now})())
    assert [row["id"] for batch in session.read("events", 1503) for row in batch.to_pylist()] == [1504, 1505]
    assert sorted({q["from"] for q in search.asked}) == [
        f"IS:{now.date() - dt.timedelta(days=n)}" for n in (2, 1, 0, -1)]  # tomorrow: a server ahead of UTC


def test_a_stage_sharing_its_millisecond_with_another_is_the_latest_whichever_unleash_shows():
    """Unleash archives and revives a flag in event handlers that may write two stages in one
    millisecond; its list then shows either, and neither is a change."""
    from pipeline.sources.unleash_api import _same_latest_stage

    at = dt.datetime(2026, 12, 1, 9, 30, 0, 123000, tzinfo=dt.timezone.utc)
    landed = [{"stage": "initial", "created_at": at}, {"stage": "archived", "created_at": at}]
    assert _same_latest_stage({"stage": "archived", "enteredStageAt": "2026-12-01T09:30:00.123Z"}, landed)
    assert _same_latest_stage({"stage": "initial", "enteredStageAt": "2026-12-01T09:30:00.123Z"}, landed)
    assert not _same_latest_stage({"stage": "live", "enteredStageAt": "2026-12-01T09:30:00.123Z"}, landed)
    assert not _same_latest_stage({"stage": "live", "enteredStageAt": "2026-12-01T09:30:00.124Z"}, landed)
    assert not _same_latest_stage({"stage": "initial", "enteredStageAt": "2026-12-01T09:29:59.000Z"},
                                  landed + [{"stage": "initial", "created_at": at - dt.timedelta(seconds=1)}])


def test_project_members_land_as_counted_each_member_since_the_landing_that_first_counted_it(tmp_path):
    from pipeline.sources.admin_api import Instance
    from pipeline.sources.unleash_api import ApiSession

    class Projects:
        base, concurrency = "http://unleash.test", 2

        def __init__(self, counts: dict[str, int], archived: dict[str, int]):
            self.counts, self.archived = counts, archived

        def get(self, path, params=None):
            assert path == "/api/admin/projects"
            listed = self.archived if (params or {}).get("archived") == "true" else self.counts
            return {"projects": [{"id": p, "memberCount": n, "createdAt": "2024-01-01T00:00:00Z",
                                  "archivedAt": "2025-01-01T00:00:00Z" if listed is self.archived else None}
                                 for p, n in listed.items()]}

    def members(counts, archived, landed=None) -> tuple[ApiSession, list[dict]]:
        session = ApiSession(Projects(counts, archived), Instance((8, 2, 0), "Pro", False))
        session.remember_landed(type("Landed", (), {"latest_snapshot": lambda self, e: landed,
                                                    "last_event_at": lambda self: None})())
        return session, sorted((r["project"], r["user_id"], r["since"])
                               for b in session.read("project_members", None) for r in b.to_pylist())

    first, rows = members({"web": 2, "empty": 0}, {"old": 1})
    at = first.extracted_at
    assert rows == [("old", -1, at), ("web", -2, at), ("web", -1, at)]  # archived projects' members too
    pq.write_table(pa.Table.from_pylist([{"project": p, "user_id": u, "since": s} for p, u, s in rows]),
                   tmp_path / "members.parquet")
    later, rows = members({"web": 3, "empty": 0}, {}, str(tmp_path / "members.parquet"))
    # web's first two are members since the first landing, its third since this one; old is gone
    assert rows == [("web", -3, later.extracted_at), ("web", -2, at), ("web", -1, at)] and later.extracted_at > at
    _, rows = members({"web": 1}, {}, str(tmp_path / "members.parquet"))
    assert rows == [("web", -1, at)]


# ---- the source: a real Unleash driven through its own API, read from the API and from its database ----

@dataclass
class Scenario:
    unleash: unleash_server.Unleash
    database: str
    metrics: dict  # (flag, hour) -> (yes, no) sent with the client token
    daily: dict  # (flag, day) -> (yes, no) of Unleash's daily rows


@pytest.fixture(scope="module", params=[VERSION, OLDER, OLDEST])
def scenario(postgres, request):
    """Flags of several types enabled in production, archived (one stays so) and revived, marked stale,
    retyped and deleted; users, one deleted; client metrics over the last three hours: all through Unleash's HTTP API."""
    if unleash_server.npm() is None:
        pytest.skip("npm is not installed")
    called = f"unleash_api_{request.param.replace('.', '_')}"
    database = postgres.create_database(called)
    # Unleash keeps some instants without a time zone, in its sessions' zone: UTC, as its Docker image runs
    postgres.execute(called, f"ALTER DATABASE {called} SET timezone TO 'UTC'")
    # daily metrics as an Unleash keeping them serves them (its Enterprise scheduler writes the rows)
    with unleash_server.serving(database, request.param,
                                {"UNLEASH_EXPERIMENTAL_EXTENDED_USAGE_METRICS": "true"}) as instance:
        admin = httpx.Client(base_url=instance.url, headers={"Authorization": unleash_server.ADMIN_TOKEN}, timeout=30)
        for name, kind in [("checkout-v2", "release"), ("search-ab", "experiment"), ("kill-payments", "kill-switch"),
                           ("migrate-db", "operational"), ("beta-users", "permission"), ("old-banner", "release"),
                           ("legacy-flag", "release")]:
            admin.post("/api/admin/projects/default/features", json={"name": name, "type": kind}).raise_for_status()
        for name in ("checkout-v2", "kill-payments", "search-ab"):
            admin.post(f"/api/admin/projects/default/features/{name}/environments/production/strategies",
                       json={"name": "default"}).raise_for_status()
            admin.post(f"/api/admin/projects/default/features/{name}/environments/production/on").raise_for_status()
        admin.post("/api/admin/projects/default/features/search-ab/environments/production/off").raise_for_status()
        admin.post("/api/admin/projects/default/stale", json={"features": ["migrate-db"], "stale": True}).raise_for_status()
        admin.patch("/api/admin/projects/default/features/beta-users",
                    json=[{"op": "replace", "path": "/type", "value": "release"}]).raise_for_status()
        admin.delete("/api/admin/projects/default/features/old-banner").raise_for_status()  # archived
        admin.delete("/api/admin/projects/default/features/migrate-db").raise_for_status()
        admin.post("/api/admin/projects/default/revive", json={"features": ["migrate-db"]}).raise_for_status()
        admin.delete("/api/admin/archive/old-banner").raise_for_status()  # deleted for good
        admin.delete("/api/admin/projects/default/features/legacy-flag").raise_for_status()  # stays archived
        users = [admin.post("/api/admin/user-admin", json={"email": f"user{n}@example.com", "rootRole": 3,
                                                           "sendEmail": False}).json()["id"] for n in range(3)]
        admin.delete(f"/api/admin/user-admin/{users[-1]}").raise_for_status()
        # a project member: Open Source's API cannot add one (project roles are Enterprise's), its database can
        postgres.execute(called, f"INSERT INTO role_user (role_id, user_id, project) SELECT id, {users[0]}, 'default' "
                         "FROM roles WHERE type = 'project' ORDER BY id LIMIT 1")
        now = dt.datetime.now(dt.timezone.utc)
        sent, sent_daily = {}, {}
        client = {"Authorization": unleash_server.CLIENT_TOKEN}
        for hours_ago, counts in [(3, {"checkout-v2": (40, 2), "kill-payments": (9, 0)}),
                                  (2, {"checkout-v2": (30, 3), "search-ab": (0, 5)}),
                                  (1, {"checkout-v2": (25, 1), "kill-payments": (4, 0)})]:
            # a bucket inside one hour (Unleash files it by its start or its stop, depending on the version)
            hour = (now - dt.timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
            httpx.post(f"{instance.url}/api/client/metrics", headers=client, json={
                "appName": "web", "instanceId": "i-1", "bucket": {
                    "start": (hour + dt.timedelta(minutes=10)).isoformat(),
                    "stop": (hour + dt.timedelta(minutes=20)).isoformat(),
                    "toggles": {flag: {"yes": yes, "no": no} for flag, (yes, no) in counts.items()}}}).raise_for_status()
            sent.update({(flag, hour): c for flag, c in counts.items()})
        for days_ago, (yes, no) in ((3, (300, 30)), (5, (500, 5))):
            postgres.execute(called, "INSERT INTO client_metrics_env_daily (feature_name, app_name, environment, date, "
                             f"yes, no) VALUES ('checkout-v2', 'web', 'production', '{now.date() - dt.timedelta(days=days_ago)}', "
                             f"{yes}, {no})")
            sent_daily[("checkout-v2", now.date() - dt.timedelta(days=days_ago))] = (yes, no)
        deadline = time.monotonic() + 120  # Unleash writes metrics and their last-seen times in the background
        while time.monotonic() < deadline:
            time.sleep(5)  # and answers 429 to a client asking too often
            answer = admin.get("/api/admin/search/features", params={"limit": 100})
            flags = answer.json()["features"] if answer.status_code == 200 else []
            if {f["name"] for f in flags if any(e.get("lastSeenAt") for e in f["environments"])} >= \
                    {"checkout-v2", "kill-payments", "search-ab"}:
                break
        yield Scenario(instance, database, sent, sent_daily)


def test_the_api_lands_what_the_database_holds_and_both_give_the_same_document(scenario, tmp_path, monkeypatch):
    from pipeline.sources.postgres import PostgresSource
    from pipeline.sources.unleash_api import UnleashApiSource

    monkeypatch.setenv("INSIGHTS_UNLEASH_TOKEN", unleash_server.ADMIN_TOKEN)
    source = UnleashApiSource(scenario.unleash.url)
    job.land(tmp_path / "api", source)
    job.land(tmp_path / "db", PostgresSource(scenario.database))
    lakes = {name: Lake(tmp_path / name) for name in ("api", "db")}
    hourly = {name: {(r["feature_name"], r["timestamp"]): (r["yes"], r["no"])
                     for r in pq.read_table(lake.files("client_metrics")).to_pylist()} for name, lake in lakes.items()}
    assert hourly["api"] == hourly["db"] == scenario.metrics  # every hour sent, as sent
    daily = {name: {(r["feature_name"], r["date"]): (r["yes"], r["no"])
                    for r in pq.read_table(lake.files("client_metrics_daily")).to_pylist()} for name, lake in lakes.items()}
    assert daily["api"] == daily["db"] == scenario.daily
    for entity in ("events", "features", "feature_environments", "feature_types", "environments", "projects",
                   "feature_lifecycles"):
        tables = {name: _entity(lake, entity) for name, lake in lakes.items()}
        if entity == "events":  # Unleash logs some events of its own in the background (an application seen,
            # say): the database, landed second, may hold a few the API's landing had not seen yet
            seen = max(e["id"] for e in tables["api"])
            later = [e for e in tables["db"] if e["id"] > seen]
            assert all(e["feature_name"] is None for e in later), later
            tables["db"] = [e for e in tables["db"] if e["id"] <= seen]
        if entity == "feature_environments" and scenario.unleash.version == OLDEST:
            # before 6.4 archived flags come from the archive's list, which shows no environments: documented
            assert not [e for e in tables["api"] if e["feature_name"] == "legacy-flag"]
            tables["db"] = [e for e in tables["db"] if e["feature_name"] != "legacy-flag"]
        assert tables["api"] == tables["db"], entity
    members = {name: sorted(r["project"] for r in _entity(lake, "project_members")) for name, lake in lakes.items()}
    assert members["api"] == members["db"] == ["default"]  # the API counts them (memberCount), the database names them
    users = {name: _entity(lake, "users") for name, lake in lakes.items()}
    people = [u for u in users["db"] if not u["is_service"] and not u["is_system"]]
    assert [u for u in people if u["deleted_at"] is None] == [u for u in users["api"] if u["deleted_at"] is None]
    assert len(people) == len(users["api"]) == 4  # the admin, two users, and one deleted (from its events)
    [(was, got)] = [(d, a) for d in people for a in users["api"] if d["id"] == a["id"] and d["deleted_at"]]
    assert abs(was["created_at"] - got["created_at"]) < dt.timedelta(seconds=1) and got["seen_at"] is None
    assert abs(was["deleted_at"] - got["deleted_at"]) < dt.timedelta(seconds=1)
    today = dt.datetime.now(dt.timezone.utc).date()
    documents = {}
    for name in ("api", "db"):
        job.build(tmp_path / name, job.plan_run(tmp_path / name, today))
        documents[name] = job.export(tmp_path / name, today - dt.timedelta(days=30), today)
    assert documents["api"] == documents["db"]
    assert source.counts["requests"] >= 10 and unleash_server.ADMIN_TOKEN not in json.dumps(source.counts)


def _entity(lake: Lake, entity: str) -> list[dict]:
    files = lake.files(entity) if ENTITIES[entity].kind != "snapshot" else [lake.latest_snapshot(entity)]
    rows = [{k: _milliseconds(v) for k, v in r.items()}  # the API says instants to the millisecond
            for r in pq.read_table(files).select(ENTITIES[entity].schema.names).to_pylist()]
    return sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))


def _milliseconds(value):
    return value.replace(microsecond=value.microsecond // 1000 * 1000) if isinstance(value, dt.datetime) else value


def test_a_second_run_reads_only_what_is_new_and_a_gap_past_48_hours_says_which_hours_are_gone(
        scenario, tmp_path, monkeypatch, caplog):
    from pipeline.sources.admin_api import UnleashApi, probe
    from pipeline.sources.unleash_api import ApiSession, UnleashApiSource

    monkeypatch.setenv("INSIGHTS_UNLEASH_TOKEN", unleash_server.ADMIN_TOKEN)
    job.land(tmp_path, UnleashApiSource(scenario.unleash.url))
    landed = pq.read_table(Lake(tmp_path).files("events")).column("id").to_pylist()
    admin = httpx.Client(base_url=scenario.unleash.url, headers={"Authorization": unleash_server.ADMIN_TOKEN})
    admin.post("/api/admin/projects/default/stale", json={"features": ["search-ab"], "stale": True}).raise_for_status()
    source = UnleashApiSource(scenario.unleash.url)
    second = job.land(tmp_path, source)
    assert "client_metrics" not in second.rows  # nothing new since the hours landed
    events = pq.read_table(Lake(tmp_path).files("events")).select(["id", "type", "feature_name"]).to_pylist()
    new = [e for e in events if e["id"] > max(landed)]
    # Unleash writes some events of its own in the background (an application seen, say): the second run
    # lands exactly what the instance logged between the two, each once, the stale mark among them
    with psycopg.connect(scenario.database) as database:
        logged = database.execute("SELECT id FROM events WHERE id > %s AND id <= %s",
                                  (max(landed), max(e["id"] for e in new))).fetchall()
    assert sorted(e["id"] for e in new) == sorted(i for (i,) in logged) and second.rows["events"] == len(new)
    assert {"type": "feature-stale-on", "feature_name": "search-ab"} in [
        {k: e[k] for k in ("type", "feature_name")} for e in new]
    assert len(events) == len({e["id"] for e in events}) == len(landed) + len(new) and len(landed) > 20
    # three days later, the hours after the last landed one and before Unleash's 48 are gone, and said so
    api = UnleashApi(scenario.unleash.url, unleash_server.ADMIN_TOKEN)
    session = ApiSession(api, probe(api))
    session.extracted_at += dt.timedelta(days=3)
    with caplog.at_level("WARNING"):
        session.read("client_metrics", max(scenario.metrics)[1])
    [line] = [r.getMessage() for r in caplog.records if "are gone from Unleash" in r.getMessage()]
    assert f"from {max(scenario.metrics)[1]:%Y-%m-%d %H:00} to " in line


def test_a_token_revoked_mid_run_lands_nothing_and_a_body_cut_short_is_read_again(scenario, tmp_path, monkeypatch):
    from pipeline.sources.unleash_api import UnleashApiSource

    monkeypatch.setenv("INSIGHTS_UNLEASH_TOKEN", unleash_server.ADMIN_TOKEN)
    job.land(tmp_path, UnleashApiSource(scenario.unleash.url))
    before = (tmp_path / "lake" / "_state.json").read_bytes()
    committed = {entity: _entity(Lake(tmp_path), entity) for entity in ("events", "features", "users")}
    forwarded, cut = [], []

    class Proxy(http.server.BaseHTTPRequestHandler):
        """Unleash, but the token stops working at the sweep's archived page, and one body is cut short."""

        def do_GET(self):
            forwarded.append(self.path)
            if "lifecycle=IS%3Aarchived" in self.path or "archived=IS%3Atrue" in self.path \
                    or self.path.startswith("/api/admin/archive/features"):  # Unleash before 6.4
                answer = httpx.Response(401, content=b'{"message": "token revoked"}')
            else:
                answer = httpx.get(scenario.unleash.url + self.path, headers={"Authorization": self.headers["Authorization"]})
            body = answer.content
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():  # Unleash's rate limit headers among them
                if name.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path.startswith("/api/admin/search/events") and not cut:
                cut.append(self.path)
                body = body[:len(body) // 2]  # cut short: the client sees a dropped connection
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    with handling(Proxy) as port:
        with pytest.raises(SourceRefused, match="refused the token"):
            job.land(tmp_path, UnleashApiSource(f"http://127.0.0.1:{port}"))
    assert cut and forwarded.count(cut[0]) >= 2  # read again in full
    assert (tmp_path / "lake" / "_state.json").read_bytes() == before and Lake(tmp_path).generation == 1
    assert {entity: _entity(Lake(tmp_path), entity) for entity in committed} == committed  # nothing landed
    job.land(tmp_path, UnleashApiSource(scenario.unleash.url))  # the next run clears what the dead one wrote
    lake = Lake(tmp_path)
    named = {str(p) for e in ENTITIES for p in [*lake.files(e), *lake.snapshot_files(e), *lake.day_sums_files(e).values()]}
    assert {str(p) for p in (tmp_path / "lake").rglob("g*.parquet") if "_quarantine" not in str(p)} <= named


def test_lifecycle_stages_are_asked_for_only_where_the_sweep_shows_a_new_one(scenario, tmp_path, monkeypatch):
    from pipeline.sources.unleash_api import UnleashApiSource

    monkeypatch.setenv("INSIGHTS_UNLEASH_TOKEN", unleash_server.ADMIN_TOKEN)
    asked, get = [], UnleashApi.get
    monkeypatch.setattr(UnleashApi, "get", lambda self, path, params=None: asked.append(path) or get(self, path, params))

    def stages_asked() -> list[str]:
        asked.clear()
        job.land(tmp_path, UnleashApiSource(scenario.unleash.url))
        return sorted(path.split("/")[-2] for path in asked if path.endswith("/lifecycle"))

    assert stages_asked() == ["beta-users", "checkout-v2", "kill-payments", "legacy-flag", "migrate-db",
                              "search-ab"]  # every flag
    assert stages_asked() == []  # no stage changed (before 6.4, the archived flag's list shows none: the lake saw it)
    httpx.post(f"{scenario.unleash.url}/api/admin/projects/default/features/search-ab/lifecycle/complete",
               json={"status": "discarded"}, headers={"Authorization": unleash_server.ADMIN_TOKEN}).raise_for_status()
    assert stages_asked() == ["search-ab"]
    stages = {(r["feature"], r["stage"]) for r in _entity(Lake(tmp_path), "feature_lifecycles")}
    assert ("search-ab", "completed") in stages and ("checkout-v2", "live") in stages
