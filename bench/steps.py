"""The benchmark's measured steps; each runs in its own process: ``python -m bench.steps STEP JSON``.

A step prints one JSON object (its seconds and counts) as its last line; the runner adds the
process's peak RSS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.instance import END, TIERS, Instance
from pipeline import calendar, document, duck, job
from pipeline.warehouse import flags_partition


def generate(data_dir: str, tier: str, days: int, hourly_days: int | None = None) -> dict:
    """The tier's instance over ``days`` landed as one generation; with ``hourly_days``, only the
    last ``hourly_days`` days have hourly rows, the days before Unleash's daily rows."""
    landing = Instance(TIERS[tier].with_days(days), hourly_days=hourly_days).land(Path(data_dir))
    return {"rows": landing.rows}


def backfill(data_dir: str, datasets: str = "all") -> dict:
    """A backfill of the whole history: every dataset, or (``trends``) the seven trends alone."""
    first = job.first_day(Path(data_dir))
    partitions = (job.plan_backfill(Path(data_dir), first, END) if datasets == "all"
                  else job.partitions_between(first, END, END))
    built = job.build(Path(data_dir), partitions)
    return {"partitions": len(built.rows)}


def history(data_dir: str) -> dict:
    """The warehouse a team's daily runs leave over the whole history, and the ``flags`` tables as of
    its last day: one build, a run of months at a time (``job.build``), as ``insights backfill``'s
    tasks build them."""
    data = Path(data_dir)
    partitions = job.plan_backfill(data, job.first_day(data), END)
    return {"partitions": len(job.build(data, [*partitions, flags_partition(END)]).rows)}


def cli_backfill(data_dir: str, prefect_home: str, api_url: str | None = None) -> dict:
    """``insights backfill`` of the whole history as a user types it, end to end: its wall seconds,
    Prefect's start included; with ``api_url`` against a standing Prefect server, without it
    against the temporary one the command starts (``prefect_home``: Prefect's folder, kept between
    runs as a user's is)."""
    import os
    import subprocess

    first = job.first_day(Path(data_dir))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment.update(PREFECT_HOME=prefect_home, **({"PREFECT_API_URL": api_url} if api_url else {}))
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "backfill", "--from",
                           first.isoformat(), "--to", END.isoformat(), "--data-dir", data_dir],
                          env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"insights backfill failed ({done.returncode}): {done.stderr[-2000:]}")
    import resource

    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # its largest process, in MiB
    return {"cli_seconds": round(wall, 3), "prefect": "standing" if api_url else "temporary",
            "cli_peak_rss_mib": round(largest, 1)}


@contextmanager
def standing_prefect(prefect_home: str) -> Iterator[str]:
    """``prefect server start`` on a free port, as a team runs it: its API URL once it answers."""
    import os

    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    url = f"http://127.0.0.1:{port}/api"
    with started([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                 {**environment, "PREFECT_HOME": prefect_home}, f"{url}/health"):
        yield url


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def started(command: list[str], environment: dict[str, str], health: str) -> Iterator[int]:
    """A server's process, started with ``command``: its id once ``health`` answers 200 (at most 120 s);
    stopped at the end of the block."""
    import subprocess

    import httpx

    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            try:
                if httpx.get(health).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"{' '.join(command[:5])} did not answer within 120 s")
        yield server.pid
    finally:
        server.terminate()
        server.wait(30)


def floor(data_dir: str) -> dict:
    """Read every lake column the trends need once, and aggregate it with a trivial group-by.

    The metrics' day comes from each file's path, as the trends take it; snapshots are left out
    (a few thousand rows).
    """
    from pipeline.lake import Lake

    lake, con = Lake(Path(data_dir)), duck.connect()
    scans = {
        "client_metrics": "SELECT environment, sum(yes), sum(no), max(feature_name), max(app_name) "
                          "FROM read_parquet($files) GROUP BY environment",
        "events": "SELECT type, max(id), max(created_at), max(feature_name), max(project), max(environment), "
                  "max(flag_type), bool_or(stale), max(old_project), max(new_project), max(lifetime_days), "
                  "max(previous_lifetime_days) FROM read_parquet($files) GROUP BY type",
        "user_activity": "SELECT max(user_id), max(seen_at) FROM read_parquet($files)",
    }
    rows = 0
    for entity, query in scans.items():
        rows += len(con.execute(query, {"files": lake.files(entity)}).fetchall())
    lifecycles = lake.snapshot_files("feature_lifecycles")  # what the flags table reads besides
    if lifecycles:
        rows += len(con.execute("SELECT stage, max(feature), max(created_at) FROM read_parquet($files) GROUP BY stage",
                                {"files": lifecycles}).fetchall())
    return {"groups": rows}


def daily(data_dir: str, tier: str, days: int, datasets: str = "all") -> dict:
    """One daily run the day after the history ends: land it, build what it changed (every dataset,
    or, with ``trends``, the seven trends alone), write the document."""
    seconds = {}
    began = time.perf_counter()
    landing = Instance(TIERS[tier].with_days(days)).land_next_day(Path(data_dir))
    seconds["land"] = time.perf_counter() - began
    day = END + dt.timedelta(days=1)
    began = time.perf_counter()
    partitions = [p for p in job.plan_run(Path(data_dir), day) if datasets == "all" or p.grain in ("day", "week")]
    built = job.build(Path(data_dir), partitions)
    seconds["build"] = time.perf_counter() - began
    began = time.perf_counter()
    first, last = calendar.default_range(day)
    document.write(Path(data_dir), Path(data_dir) / "documents" / "bench.json", job.export(Path(data_dir), first, last))
    seconds["document"] = time.perf_counter() - began
    return {"rows": landing.rows, "partitions": len(built.rows), "step_seconds": seconds}


def api_daily(data_dir: str, work_dir: str) -> dict:
    """A daily run from the Admin API of a stand-in serving the lake of ``data_dir`` as an Unleash
    of its size (``bench/standin.py``): a first run lands all but its last day and builds it, then
    the day after's run is measured as ``daily`` measures one, with its requests, bytes and the
    source's seconds."""
    import os

    from bench.standin import Standin
    from pipeline.sources.unleash_api import UnleashApiSource
    from tests.web import serving

    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    standin = Standin(data_dir, now - calendar.start_of_day(END + dt.timedelta(days=1)))
    api_dir = Path(work_dir) / "api-daily"
    shutil.rmtree(api_dir, ignore_errors=True)
    os.environ["INSIGHTS_UNLEASH_TOKEN"] = "bench-standin-token"
    with serving(standin.app) as url:
        standin.cutoff = now - dt.timedelta(days=1)
        first = UnleashApiSource(url)
        job.land(api_dir, first)
        job.build(api_dir, job.plan_run(api_dir, (standin.cutoff - dt.timedelta(hours=1)).date()))
        standin.cutoff = now
        seconds, day = {}, (now - dt.timedelta(hours=1)).date()
        began = time.perf_counter()
        source = UnleashApiSource(url)
        landing = job.land(api_dir, source)
        seconds["land"] = time.perf_counter() - began
        began = time.perf_counter()
        built = job.build(api_dir, job.plan_run(api_dir, day))
        seconds["build"] = time.perf_counter() - began
        began = time.perf_counter()
        first_day, last_day = calendar.default_range(day)
        document.write(api_dir, api_dir / "documents" / "bench.json", job.export(api_dir, first_day, last_day))
        seconds["document"] = time.perf_counter() - began
    shutil.rmtree(api_dir, ignore_errors=True)
    return {"rows": landing.rows, "partitions": len(built.rows), "step_seconds": seconds, "requests": source.counts,
            "first_run_requests": first.counts}


def export(data_dir: str) -> dict:
    doc = job.export(Path(data_dir), END - dt.timedelta(days=364), END)
    return {"rows": sum(len(v) for v in doc.values())}


def extract(work_dir: str, tier: str, repeats: int) -> dict:
    """Extraction from PostgreSQL of two days of hourly metrics and the year's events, against the
    floor: ``COPY (the same queries) TO STDOUT`` read to nothing; each ``repeats`` times, in turn,
    into an empty lake (medians, and every run)."""
    import io

    import psycopg
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    from pipeline import queries
    from pipeline.sources.postgres import PostgresSource
    from tests.postgres_server import cluster

    instance = Instance(TIERS[tier])
    events = instance.events(instance.first, END)
    data = pc.if_else(pc.is_null(events["flag_type"]), pa.scalar(None, pa.string()),
                      pc.binary_join_element_wise('{"type": "', events["flag_type"], '", "stale": false}', ""))
    events_csv = pa.table({"id": events["id"], "created_at": events["created_at"], "type": events["type"],
                           "created_by": pa.array(["bench@localhost"] * events.num_rows), "data": data,
                           "project": events["project"], "environment": events["environment"],
                           "feature_name": events["feature_name"], "created_by_user_id": events["created_by_user_id"]})
    metrics = pa.Table.from_batches(list(instance.metrics(END - dt.timedelta(days=1), END)))
    schema = Path(__file__).parents[1] / "tests" / "unleash" / "schema-8.sql"
    with cluster() as server:
        url = server.create_database("unleash_bench", schema)
        with psycopg.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
            for table, rows in (("events", events_csv), ("client_metrics_env", metrics)):
                buffer = io.BytesIO()
                csv.write_csv(rows, buffer)
                with cursor.copy(f"COPY {table} ({', '.join(rows.column_names)}) FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    copy.write(buffer.getvalue())
            cursor.execute("ANALYZE")
        rows = events.num_rows + metrics.num_rows
        extractions, copies = [], []
        for _ in range(repeats):
            target = Path(work_dir) / "extracted"
            shutil.rmtree(target, ignore_errors=True)
            began = time.perf_counter()
            landing = job.land(target, PostgresSource(url))
            extractions.append(time.perf_counter() - began)
            began = time.perf_counter()
            copied = 0
            with psycopg.connect(url) as connection, connection.cursor() as cursor:
                for name, since in (("events", "0"), ("client_metrics", "-infinity")):
                    cursor.execute("SELECT set_config('insights.since', %s, true)", (since,))
                    with cursor.copy(f"COPY ({queries.load('unleash/' + name)}) TO STDOUT (FORMAT binary)") as copy:
                        for block in copy:
                            copied += len(block)
            copies.append(time.perf_counter() - began)
    landed = landing.rows["events"] + landing.rows["client_metrics"]
    return {"rows": rows, "landed": landed, "extraction_seconds": statistics.median(extractions),
            "copy_seconds": statistics.median(copies), "extraction_runs": extractions, "copy_runs": copies,
            "copy_bytes": copied}


def sizes(data_dir: str) -> dict:
    """Bytes on disk of each warehouse dataset."""
    root = Path(data_dir) / "warehouse"
    return {"bytes": {d.name: sum(f.stat().st_size for f in d.rglob("*.parquet")) for d in sorted(root.iterdir())}}


def dashboard_file(data_dir: str) -> dict:
    """The dashboard file of the year, written from the warehouse the backfill left: its size."""
    from pipeline import dashboard

    target = Path(data_dir) / "documents" / "bench.html"
    dashboard.write_file(Path(data_dir), target, dashboard.range_page(Path(data_dir), END - dt.timedelta(days=364), END))
    return {"bytes": target.stat().st_size}


@contextmanager
def web_server(data_dir: str) -> Iterator[tuple[str, dict[str, str], int]]:
    """``insights web`` over the data directory, on a free port: its base URL, the headers a client
    sends (a token, gzip accepted) and its process id, once it answers ``/health``."""
    import os
    import secrets

    token, port = secrets.token_urlsafe(32), free_port()
    with started([sys.executable, "-c", "from pipeline.cli import main; main()", "web", "--data-dir", data_dir,
                  "--port", str(port)], {**os.environ, "INSIGHTS_WEB_TOKENS": token},
                 f"http://127.0.0.1:{port}/health") as pid:
        yield f"http://127.0.0.1:{port}", {"Authorization": token, "Accept-Encoding": "gzip"}, pid


async def load(base: str, headers: dict[str, str], clients: int, paths: Callable[[], tuple[str, str]],
               until: Callable[[], bool]) -> dict[str, list[float]]:
    """``clients`` clients, each asking ``paths()`` (a kind and a path) and reading the body to its
    last byte, one request after another, until ``until()``: seconds per request by kind, and
    errors (a status other than 200) under ``errors``."""
    import httpx

    seen: dict[str, list[float]] = {"errors": []}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120,
                                 limits=httpx.Limits(max_connections=clients)) as web:
        async def client() -> None:
            while not until():
                kind, path = paths()
                began = time.perf_counter()
                async with web.stream("GET", path) as answer:
                    async for _ in answer.aiter_raw():
                        pass
                seen.setdefault(kind, []).append(time.perf_counter() - began)
                if answer.status_code != 200:
                    seen["errors"].append(answer.status_code)
        await asyncio.gather(*(client() for _ in range(clients)))
    return seen


def peak_rss_mib(pid: int) -> float:
    """The largest peak RSS of a process and its descendants (``insights`` runs its command in a child)."""
    status = Path(f"/proc/{pid}/status").read_text()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return max([int(status.split("VmHWM:")[1].split()[0]) / 1024, *(peak_rss_mib(int(c)) for c in children)])


def percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "median_ms": round(statistics.median(ordered) * 1000, 2) if ordered else None,
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2) if ordered else None}


def serve(data_dir: str, seconds: float, clients: int) -> dict:
    """The one-year document served warm by ``insights web`` to ``clients`` concurrent clients for
    ``seconds``: each request asks for gzip and reads the body to its last byte, as is (milliseconds)."""
    import httpx

    path = f"/api/admin/insights?from={(END - dt.timedelta(days=364)).isoformat()}&to={END.isoformat()}"
    with web_server(data_dir) as (base, headers, _):
        began = time.perf_counter()
        first = httpx.get(base + path, headers=headers, timeout=120)
        cold = time.perf_counter() - began
        deadline = time.perf_counter() + seconds
        seen = asyncio.run(load(base, headers, clients, lambda: ("year", path), lambda: time.perf_counter() > deadline))
    figures = percentiles(seen["year"])
    return {"status": first.status_code, "cold_ms": round(cold * 1000, 1), "errors": len(seen["errors"]), **figures,
            "body_bytes": len(first.content), "clients": clients, "load_seconds": seconds}


def serve_any(data_dir: str, seconds: float, clients: int, beside_backfill: bool = False) -> dict:
    """Ranges and project lists never asked before, served by ``insights web`` to ``clients``
    concurrent clients: half the requests a document for a random range in and around the year,
    half the lifecycle figures of a random list of 1 to 5 projects (milliseconds, by kind).

    The warehouse gets its ``flags`` tables first, as a daily run leaves them. ``beside_backfill``: a
    full backfill (the ``backfill`` step) runs in its own process meanwhile, and the clients ask
    until it ends (at least ``seconds``); its seconds are reported.
    """
    import random
    import subprocess

    import pyarrow.parquet as pq

    data = Path(data_dir)
    job.build(data, [flags_partition(END)])
    projects = sorted(set(pq.read_table(data / "warehouse" / "flags" / "part-0.parquet", columns=["project"])
                          ["project"].to_pylist()))
    first_day, rng, asked = job.first_day(data), random.Random(20261202), set()

    def paths() -> tuple[str, str]:
        while True:
            if rng.random() < 0.5:
                first = first_day - dt.timedelta(days=7) + dt.timedelta(days=rng.randrange((END - first_day).days + 14))
                last = first + dt.timedelta(days=rng.randrange(400))
                kind, path = "range", f"/api/admin/insights?from={first.isoformat()}&to={last.isoformat()}"
            else:
                chosen = ",".join(sorted(rng.sample(projects, rng.randint(1, min(5, len(projects))))))
                kind, path = "projects", f"/api/admin/insights/lifecycle?projects={chosen}"
            if path not in asked:
                asked.add(path)
                return kind, path

    with web_server(data_dir) as (base, headers, server):
        import httpx

        httpx.get(base + "/api/admin/insights", headers=headers, timeout=300)  # the state is loaded
        backfill_run = subprocess.Popen([sys.executable, "-m", "bench.steps", "backfill", json.dumps(
            {"data_dir": data_dir})], stdout=subprocess.PIPE, text=True) if beside_backfill else None
        deadline = time.perf_counter() + seconds
        seen = asyncio.run(load(base, headers, clients, paths, lambda: time.perf_counter() > deadline and (
            backfill_run is None or backfill_run.poll() is not None)))
        backfilled = json.loads(backfill_run.communicate()[0].splitlines()[-1]) if backfill_run else None
        server_peak_mib = peak_rss_mib(server)
    answers = seen["range"] + seen["projects"]
    return {**percentiles(answers), "range": percentiles(seen["range"]), "projects": percentiles(seen["projects"]),
            "errors": len(seen["errors"]), "error_statuses": sorted(set(seen["errors"])), "clients": clients,
            "projects_known": len(projects), "backfill_seconds": backfilled["seconds"] if backfilled else None,
            "server_peak_rss_mib": round(server_peak_mib, 1)}


def prefect_startup() -> dict:
    import flows  # noqa: F401 - the product's Prefect defaults (start-up timeout, no analytics), before Prefect
    from prefect import flow

    @flow
    def nothing() -> int:
        return 1

    nothing()
    return {}


STEPS = {f.__name__: f for f in (generate, backfill, history, cli_backfill, floor, daily, export, sizes, dashboard_file, serve,
                                  serve_any, extract, prefect_startup, api_daily)}

if __name__ == "__main__":
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    began = time.perf_counter()
    result = STEPS[sys.argv[1]](**arguments)
    result["seconds"] = round(time.perf_counter() - began, 3)
    print(json.dumps(result, default=str))
