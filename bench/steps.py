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


def backfill(data_dir: str, datasets: str = "all", last: str | None = None) -> dict:
    """A backfill of the whole history (to ``last``, else the tier's end): every dataset, or
    (``trends``) the seven trends alone."""
    first, end = job.first_day(Path(data_dir)), dt.date.fromisoformat(last) if last else END
    partitions = (job.plan_backfill(Path(data_dir), first, end) if datasets == "all"
                  else job.partitions_between(first, end, end))
    built = job.build(Path(data_dir), partitions)
    return {"partitions": len(built.rows)}


def history(data_dir: str) -> dict:
    """The warehouse a team's daily runs leave over the whole history, and the ``flags`` tables as of
    its last day: one build, a run of months at a time (``job.build``), as ``insights backfill``'s
    tasks build them."""
    data = Path(data_dir)
    partitions = job.plan_backfill(data, job.first_day(data), END)
    return {"partitions": len(job.build(data, [*partitions, flags_partition(END)]).rows)}


def cli_backfill(data_dir: str, prefect_home: str, api_url: str | None = None, last: str | None = None) -> dict:
    """``insights backfill`` of the whole history (to ``last``, else the tier's end) as a user types
    it, end to end: its wall seconds; with ``api_url`` a flow run of a standing Prefect server,
    without it what a new user gets with no Prefect server configured (``prefect_home``: Prefect's
    folder, kept between runs as a user's is)."""
    import os
    import subprocess

    first = job.first_day(Path(data_dir))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment.update(PREFECT_HOME=prefect_home, **({"PREFECT_API_URL": api_url} if api_url else {}))
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "backfill", "--from",
                           first.isoformat(), "--to", last or END.isoformat(), "--data-dir", data_dir],
                          env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"insights backfill failed ({done.returncode}): {done.stderr[-2000:]}")
    import resource

    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # its largest process, in MiB
    return {"cli_seconds": round(wall, 3), "prefect": "standing" if api_url else "none configured",
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


PUBLISHED = {
    # one statement a published dataset, over the lake's raw rows, written by DuckDB in the warehouse's layout
    "flag_usage_daily": ("month", """
        SELECT m.timestamp::DATE AS day, m.feature_name AS flag, m.environment, m.app_name, sum(m.yes) AS yes,
               sum(m.no) AS no, any_value(f.project) AS project, any_value(f.type) AS type,
               strftime(m.timestamp::DATE, '%Y-%m') AS month
        FROM read_parquet($client_metrics) AS m LEFT JOIN read_parquet($features) AS f ON f.name = m.feature_name
        GROUP BY ALL"""),
    "metrics_summary_trends": ("week", """
        SELECT strftime(m.timestamp::DATE, '%G-%V') AS week, coalesce(f.project, 'default') AS project,
               sum(m.yes) AS total_yes, sum(m.no) AS total_no, sum(m.yes + m.no) AS total_requests,
               count(DISTINCT m.app_name) AS total_apps, count(DISTINCT m.feature_name) AS total_flags,
               count(DISTINCT m.environment) AS total_environments
        FROM read_parquet($client_metrics) AS m LEFT JOIN read_parquet($features) AS f ON f.name = m.feature_name
        GROUP BY ALL"""),
    "environment_type_trends": ("week", """
        SELECT strftime(e.created_at::DATE, '%G-%V') AS week, v.type AS environment_type, count(*) AS total_updates
        FROM read_parquet($events) AS e JOIN read_parquet($environments) AS v ON v.name = e.environment
        GROUP BY ALL"""),
    "creation_archive_trends": ("week", """
        WITH counted AS (
            SELECT strftime(e.created_at::DATE, '%G-%V') AS week, e.project, e.flag_type,
                   count(*) FILTER (e.type IN ('feature-created', 'feature-import')) AS created,
                   count(*) FILTER (e.type = 'feature-archived') AS archived
            FROM read_parquet($events) AS e WHERE e.project IS NOT NULL GROUP BY ALL)
        SELECT week, project, sum(archived) AS archived_flags,
               map_from_entries(list({'key': flag_type, 'value': created}) FILTER (created > 0 AND flag_type IS NOT NULL))
                   AS created_flags
        FROM counted GROUP BY ALL"""),
    "lifecycle_trends": ("week", """
        SELECT strftime(l.created_at::DATE, '%G-%V') AS week, f.project, count(*) AS new_production_flags
        FROM read_parquet($feature_lifecycles) AS l JOIN read_parquet($features) AS f ON f.name = l.feature
        WHERE l.stage = 'live' GROUP BY ALL"""),
    "user_trends": ("month", """
        WITH days AS (SELECT unnest(range($first::DATE, $last::DATE + 1, INTERVAL 1 DAY))::DATE AS day),
        active AS (SELECT d.day, count(DISTINCT a.user_id) AS active FROM days AS d
                   JOIN read_parquet($user_activity) AS a
                     ON a.seen_at > d.day - INTERVAL 59 DAY AND a.seen_at < d.day + INTERVAL 1 DAY GROUP BY d.day)
        SELECT d.day, count(u.id) AS total, any_value(a.active) AS active, count(u.id) - any_value(a.active) AS inactive,
               strftime(d.day, '%Y-%m') AS month
        FROM days AS d LEFT JOIN read_parquet($users) AS u ON u.created_at < d.day + INTERVAL 1 DAY
            AND (u.deleted_at IS NULL OR u.deleted_at >= d.day + INTERVAL 1 DAY) AND NOT u.is_service AND NOT u.is_system
        LEFT JOIN active AS a ON a.day = d.day GROUP BY d.day"""),
    "flag_trends": ("month", """
        WITH days AS (SELECT unnest(range($first::DATE, $last::DATE + 1, INTERVAL 1 DAY))::DATE AS day)
        SELECT d.day, count(*) AS total, count(*) FILTER (f.stale) AS stale,
               count(*) FILTER (f.potentially_stale AND NOT f.stale) AS potentially_stale,
               count(*) FILTER (NOT f.stale AND NOT f.potentially_stale) AS active, strftime(d.day, '%Y-%m') AS month
        FROM days AS d JOIN read_parquet($features) AS f ON f.created_at < d.day + INTERVAL 1 DAY
            AND (f.archived_at IS NULL OR f.archived_at >= d.day + INTERVAL 1 DAY) GROUP BY d.day"""),
    "project_flag_trends": ("week", """
        WITH weeks AS (SELECT DISTINCT strftime(day, '%G-%V') AS week, max(day) OVER (PARTITION BY strftime(day, '%G-%V'))
                       AS sunday FROM (SELECT unnest(range($first::DATE, $last::DATE + 1, INTERVAL 1 DAY))::DATE AS day))
        SELECT w.week, f.project, count(*) AS total, count(*) FILTER (f.stale) AS stale,
               count(*) FILTER (f.potentially_stale AND NOT f.stale) AS potentially_stale,
               round(100.0 * count(*) FILTER (NOT f.stale AND NOT f.potentially_stale) / count(*)) AS health
        FROM weeks AS w JOIN read_parquet($features) AS f ON f.created_at < w.sunday + INTERVAL 1 DAY
            AND (f.archived_at IS NULL OR f.archived_at >= w.sunday + INTERVAL 1 DAY) GROUP BY ALL"""),
}


def floor_publish(data_dir: str) -> dict:
    """What a system without this project's design must do to publish the same datasets: one DuckDB
    statement a dataset (the seven trends and ``flag_usage_daily``) over the lake's raw hourly rows
    and the other lake columns it needs, each written with DuckDB's own ``COPY … TO … (FORMAT
    parquet)`` partitioned as the warehouse is (by month or ISO week), no roll-ups, nothing kept
    between statements, in one process."""
    from pipeline.lake import Lake

    data = Path(data_dir)
    lake, con, out = Lake(data), duck.connect(), data / "floor-published"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    first = job.first_day(data)
    files = {entity: lake.files(entity) for entity in ("client_metrics", "events", "user_activity")}
    files.update({entity: [lake.latest_snapshot(entity)] for entity in ("features", "environments", "users",
                                                                          "feature_lifecycles")})
    written, seconds = {}, {}
    for name, (grain, query) in PUBLISHED.items():
        used = {k: v for k, v in files.items() if f"${k}" in query}
        parameters = {**used, **({"first": first, "last": END} if "$first" in query else {})}
        began = time.perf_counter()
        con.execute(f"COPY ({query}) TO '{out / name}' (FORMAT parquet, PARTITION_BY ({grain}))", parameters)
        seconds[name] = round(time.perf_counter() - began, 3)
        written[name] = sum(1 for _ in (out / name).rglob("*.parquet"))
    con.close()
    shutil.rmtree(out)
    return {"files": written, "dataset_seconds": seconds}


def daily(data_dir: str, tier: str, days: int, datasets: str = "all", mirror_to: str | None = None) -> dict:
    """One daily run the day after the history ends: land it, build what it changed (every dataset,
    or, with ``trends``, the seven trends alone), write the document; with ``mirror_to`` (a data
    directory mirrored there, ``mirror_year``), push its commit too."""
    seconds, pushed = {}, {}
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
    if mirror_to:
        from pipeline import mirror

        began = time.perf_counter()
        pushed = mirror.push(Path(data_dir), mirror_to)
        seconds["mirror"] = time.perf_counter() - began
    return {"rows": landing.rows, "partitions": len(built.rows), "step_seconds": seconds, **({"mirrored": pushed} if pushed else {})}


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's standalone S3 API server on a free port (an S3 that keeps objects in its process, over
    HTTP on loopback: slower per request than a real store's, so the mirror's figures are an upper
    bound), with the settings a user exports: its endpoint URL."""
    import os

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="us-east-1",
                      AWS_ENDPOINT_URL=endpoint)
    with started([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], dict(os.environ),
                 f"{endpoint}/moto-api/"):
        import boto3

        boto3.client("s3").create_bucket(Bucket="insights-bench")
        yield endpoint


def mirror_year(data_dir: str, mirror_to: str) -> dict:
    """The whole data directory pushed to an empty mirror: files, bytes, the largest file's, and the
    pointer's text (so that each daily run's push can start from this state again)."""
    from pipeline import mirror

    pushed = mirror.push(Path(data_dir), mirror_to)
    largest = max(stat.st_size for stat in mirror.local_files(Path(data_dir)).values())
    return {**pushed, "largest_bytes": largest, "pointer": pointer_text(mirror_to)}


def pointer_text(mirror_to: str) -> str:
    import boto3

    bucket, prefix = mirror_to[5:].split("/", 1)
    return boto3.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/current.json")["Body"].read().decode()


def reset_pointer(mirror_to: str, text: str) -> dict:
    """Put the mirror's pointer back to ``text`` (the state a copy of the data directory pushed), so
    that a daily run on a fresh copy pushes on from it rather than being refused."""
    import boto3

    bucket, prefix = mirror_to[5:].split("/", 1)
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/current.json", Body=text.encode())
    return {}


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


def random_ranges(data_dir: str, seed: int = 20261207) -> Callable[[], tuple[str, str]]:
    """Random ranges of the held history, mostly never asked before: spans of a week to two years,
    ending anywhere from the warehouse's first day to its last (a range reaching past either end is
    clipped, as a user's is)."""
    import random

    data = Path(data_dir)
    first_day, last_day = job.first_day(data), job.committed_now(data).last_day
    rng = random.Random(seed)

    def path() -> tuple[str, str]:
        last = first_day + dt.timedelta(days=rng.randrange((last_day - first_day).days + 1))
        first = last - dt.timedelta(days=rng.randrange(6, 730))
        return "range", f"/api/admin/insights?from={first.isoformat()}&to={last.isoformat()}"
    return path


def serve_ranges(data_dir: str, seconds: float, clients: int) -> dict:
    """Random ranges (``random_ranges``) served by ``insights web`` to ``clients`` clients in a closed
    loop for ``seconds`` (milliseconds), and the server's peak RSS."""
    import httpx

    with web_server(data_dir) as (base, headers, server):
        httpx.get(base + "/api/admin/insights", headers=headers, timeout=300)  # the state is loaded
        deadline = time.perf_counter() + seconds
        seen = asyncio.run(load(base, headers, clients, random_ranges(data_dir), lambda: time.perf_counter() > deadline))
        server_peak_mib = peak_rss_mib(server)
    return {**percentiles(seen.get("range", [])), "errors": len(seen["errors"]),
            "error_statuses": sorted(set(seen["errors"])), "clients": clients, "server_peak_rss_mib": round(server_peak_mib, 1)}


async def open_load(base: str, headers: dict[str, str], rate: float, paths: Callable[[], tuple[str, str]],
                    until: Callable[[], bool]) -> dict[str, list[float]]:
    """Requests started ``rate`` a second whatever the answers do (a team using the page), each read to
    its last byte, until ``until()``: seconds per request, and errors (a status other than 200)."""
    import httpx

    seen: dict[str, list[float]] = {"range": [], "errors": []}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120,
                                 limits=httpx.Limits(max_connections=1000)) as web:
        async def one(path: str) -> None:
            began = time.perf_counter()
            async with web.stream("GET", path) as answer:
                async for _ in answer.aiter_raw():
                    pass
            seen["range"].append(time.perf_counter() - began)
            if answer.status_code != 200:
                seen["errors"].append(answer.status_code)

        started, asked = time.perf_counter(), []
        while not until():
            asked.append(asyncio.create_task(one(paths()[1])))
            await asyncio.sleep(max(0.0, started + len(asked) / rate - time.perf_counter()))
        await asyncio.gather(*asked)
    return seen


def serve_beside_backfill(data_dir: str, rate: float) -> dict:
    """A full backfill (the ``backfill`` step, in its own process) while ``insights web`` answers
    random ranges started ``rate`` a second: the backfill's seconds, the requests' milliseconds, and
    the server's peak RSS."""
    import subprocess

    import httpx

    with web_server(data_dir) as (base, headers, server):
        httpx.get(base + "/api/admin/insights", headers=headers, timeout=300)  # the state is loaded
        backfill_run = subprocess.Popen([sys.executable, "-m", "bench.steps", "backfill", json.dumps(
            {"data_dir": data_dir})], stdout=subprocess.PIPE, text=True)
        seen = asyncio.run(open_load(base, headers, rate, random_ranges(data_dir, 20261208),
                                     lambda: backfill_run.poll() is not None))
        backfilled = json.loads(backfill_run.communicate()[0].splitlines()[-1])
        server_peak_mib = peak_rss_mib(server)
    return {**percentiles(seen["range"]), "errors": len(seen["errors"]), "error_statuses": sorted(set(seen["errors"])),
            "rate": rate, "backfill_seconds": backfilled["seconds"], "server_peak_rss_mib": round(server_peak_mib, 1)}


def sample_year(data_dir: str) -> dict:
    """A year of the sample (2024), landed and built as a daily run leaves it, for the small figures:
    its library backfill is timed by the ``backfill`` step, ``insights backfill`` by ``cli_backfill``."""
    from pipeline.sources.sample import SampleSource

    data = Path(data_dir)
    job.land(data, SampleSource(SAMPLE_YEAR_END))
    job.build(data, job.plan_run(data, SAMPLE_YEAR_END))
    return {"partitions": len(job.plan_backfill(data, job.first_day(data), SAMPLE_YEAR_END))}


SAMPLE_YEAR_END = dt.date(2024, 12, 31)
"""The sample instance starts on 2024-01-01: its year is 2024."""


def prefect_startup() -> dict:
    import flows  # noqa: F401 - the product's Prefect defaults (start-up timeout, no analytics), before Prefect
    from prefect import flow

    @flow
    def nothing() -> int:
        return 1

    nothing()
    return {}


STEPS = {f.__name__: f for f in (generate, backfill, history, cli_backfill, floor, floor_publish, daily, export, sizes,
                                  dashboard_file, serve, serve_ranges, serve_beside_backfill, sample_year, extract,
                                  prefect_startup, api_daily, mirror_year, reset_pointer)}

if __name__ == "__main__":
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    began = time.perf_counter()
    result = STEPS[sys.argv[1]](**arguments)
    result["seconds"] = round(time.perf_counter() - began, 3)
    print(json.dumps(result, default=str))
