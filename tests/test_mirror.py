"""The data directory mirrored to an S3 API server the tests start (moto's standalone server, which
enforces conditional puts as S3 does): pushed after each commit, restored into an empty directory,
refused where another directory wrote the prefix, caught up after the store was away, read by
Polars and DuckDB. Nothing of the project is mocked: the commands run as a user types them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipeline import commits, mirror
from pipeline.lock import exclusive

YEAR_END = dt.date(2024, 12, 31)  # the sample instance starts on 2024-01-01


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto's S3 API server on a free loopback port: its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line a request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._port}"
    server.stop()


@pytest.fixture
def store(s3, monkeypatch, request):
    """A bucket of its own for the test, and the AWS settings a user exports: its mirror URL."""
    import boto3

    settings = {"AWS_ACCESS_KEY_ID": "insights-test", "AWS_SECRET_ACCESS_KEY": "insights-test-secret",
                "AWS_ENDPOINT_URL": s3, "AWS_REGION": "us-east-1"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    bucket = "t-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:20]
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team/prod"


def insights(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *command],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)


def objects(url: str) -> dict[str, int]:
    """Every object under the mirror's prefix, with its size."""
    import boto3

    bucket, prefix = url[5:].split("/", 1)
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1:]: o["Size"] for page in pages for o in page.get("Contents", [])}


def read(url: str, key: str) -> bytes:
    import boto3

    bucket, prefix = url[5:].split("/", 1)
    return boto3.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read()


def current(url: str) -> tuple[dict, dict]:
    """The pointer and the manifest it names."""
    pointer = json.loads(read(url, "current.json"))
    return pointer, json.loads(read(url, pointer["manifest"]))


def tree(data_dir: Path, *tops: str) -> dict[str, str]:
    """SHA-256 of every file under the folders ``tops`` of a data directory, by relative path."""
    return {p.relative_to(data_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for top in tops for p in sorted((data_dir / top).rglob("*")) if p.is_file()}


def assert_whole(url: str) -> dict:
    """The pointer names a manifest whose every file is in the store at its size: a whole state."""
    pointer, manifest = current(url)
    stored = objects(url)
    assert pointer["seq"] == manifest["seq"]
    missing = {p: e["key"] for p, e in manifest["files"].items() if stored.get(e["key"]) != e["size"]}
    assert not missing
    return manifest


def metrics(data_dir: Path) -> dict[str, float]:
    """The server's /metrics of the data directory: each unlabelled series's value, by name."""
    from starlette.testclient import TestClient

    from pipeline.server.app import create_app
    from pipeline.server.tokens import Tokens

    text = TestClient(create_app(data_dir, Tokens(["metrics-token-for-the-mirror-test"]))).get(
        "/metrics", headers={"Authorization": "metrics-token-for-the-mirror-test"}).text
    return {name: float(value) for name, value in (line.split(" ") for line in text.splitlines()
                                                   if line.startswith("insights_mirror_"))}


def mirrored_year(data_dir: Path, url: str) -> subprocess.CompletedProcess:
    done = insights("run", "--date", YEAR_END.isoformat(), "--data-dir", str(data_dir), "--mirror", url)
    assert done.returncode == 0, done.stderr
    return done


def test_a_year_mirrored_is_restored_into_an_empty_directory_byte_for_byte(store, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    said = mirrored_year(first, store).stderr
    assert f"mirror {store} holds no state yet" in said and "mirrored to" in said
    manifest = assert_whole(store)
    assert set(manifest["files"]) == set(tree(first, "lake", "warehouse", "state")) - {
        "state/run.lock", "state/warehouse.lock", "state/warehouse.turnstile", "state/warehouse.json",
        "state/mirror.json"} - {p for p in tree(first, "state") if p.startswith("state/prepared/")}

    with exclusive(second, "restore"):
        restored = mirror.before(second, store)
    assert restored.startswith(f"restored from mirror {store}: state 1, {len(manifest['files'])} files downloaded")
    assert tree(second, "lake", "warehouse") == tree(first, "lake", "warehouse")
    assert commits.read_state(second) == commits.read_state(first)
    for name in ("first", "second"):
        done = insights("export", "--from", "2024-06-01", "--to", "2024-12-31", "--data-dir", str(tmp_path / name),
                        "--out", str(tmp_path / f"{name}.json"))
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "first.json").read_bytes() == (tmp_path / "second.json").read_bytes()

    # a server on a machine that never ran a build: restored as it starts, it answers as export does,
    # and it follows the mirror: a newer state pushed from elsewhere is pulled and served
    port, token = free_port(), "mirror-test-token"
    server = subprocess.Popen([sys.executable, "-c", "from pipeline.cli import main; main()", "web", "--data-dir",
                               str(tmp_path / "third"), "--port", str(port), "--mirror", store],
                              env={**os.environ, "INSIGHTS_WEB_TOKENS": token, "INSIGHTS_MIRROR_FOLLOW_SECONDS": "1"},
                              stderr=subprocess.PIPE, text=True)
    asked = f"http://127.0.0.1:{port}/api/admin/insights?from=2024-12-25&to=2025-01-01"
    try:
        answer = None
        for _ in range(600):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/admin/insights?from=2024-06-01&to=2024-12-31",
                                   headers={"Authorization": token}, timeout=60)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        before = httpx.get(asked, headers={"Authorization": token}, timeout=60).json()
        assert insights("run", "--date", "2025-01-01", "--data-dir", str(first), "--mirror", store).returncode == 0
        for _ in range(300):
            after = httpx.get(asked, headers={"Authorization": token}, timeout=60).json()
            if after != before:
                break
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        said = server.communicate(timeout=30)[1]
    assert answer is not None and answer.status_code == 200, said
    assert json.loads(answer.content) == json.loads((tmp_path / "first.json").read_bytes())
    assert f"restored from mirror {store}: state 1" in said
    assert max(row["date"] for row in before["userTrends"]) == "2024-12-31T23:59:59.999Z"
    assert max(row["date"] for row in after["userTrends"]) == "2025-01-01T23:59:59.999Z"
    assert f"behind mirror {store}, pulled its newer state: state 2" in said


def test_a_daily_run_uploads_only_the_files_its_commit_added(store, tmp_path):
    data_dir = tmp_path / "data"
    mirrored_year(data_dir, store)
    _, before = current(store)
    local_before = tree(data_dir, "lake", "warehouse", "state")
    stored_before = objects(store)

    done = insights("run", "--date", "2025-01-01", "--data-dir", str(data_dir), "--mirror", store)
    assert done.returncode == 0, done.stderr
    local_after = tree(data_dir, "lake", "warehouse", "state")
    changed = {p for p, digest in local_after.items() if local_before.get(p) != digest and p in current(store)[1]["files"]}
    _, after = current(store)
    uploaded = {e["key"] for e in after["files"].values()} - {e["key"] for e in before["files"].values()}
    assert len(uploaded) == len(changed) > 0
    assert {p for p, e in after["files"].items() if e["key"] in uploaded} == changed
    new_objects = set(objects(store)) - set(stored_before)
    assert new_objects == uploaded | {json.loads(read(store, "current.json"))["manifest"]}
    assert f"{len(uploaded)} files uploaded" in done.stderr
    assert_whole(store)


def test_a_push_killed_at_any_moment_leaves_a_whole_state_and_the_next_completes_it(store, tmp_path):
    data_dir = tmp_path / "data"
    done = insights("run", "--date", YEAR_END.isoformat(), "--data-dir", str(data_dir))  # committed, never pushed
    assert done.returncode == 0, done.stderr
    rng = random.Random(20261207)
    push = "import sys; from pathlib import Path; from pipeline import mirror; from pipeline.lock import exclusive\n" \
           "with exclusive(Path(sys.argv[1]), 'push'):\n    print('pushing', flush=True)\n" \
           "    mirror.push(Path(sys.argv[1]), sys.argv[2])"

    def attempt(window: float) -> bool:
        """A push killed at a random moment within ``window`` seconds of its start: whether it was killed."""
        pushing = subprocess.Popen([sys.executable, "-c", push, str(data_dir), store], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        assert pushing.stdout.readline() == "pushing\n"
        time.sleep(rng.uniform(0, window))
        killed = pushing.poll() is None
        if killed:
            pushing.send_signal(signal.SIGKILL)
        pushing.wait()
        if "current.json" in objects(store):  # before a first push completes, there is no state at all
            assert_whole(store)
        return killed

    kills = sum(attempt(3.0) for _ in range(3))  # the year's first push: a thousand files
    while "current.json" not in objects(store):
        attempt(60)  # one left to complete
    first = current(store)[1]
    for day in (dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)):
        if kills >= 6:
            break
        assert insights("run", "--date", day.isoformat(), "--data-dir", str(data_dir)).returncode == 0
        kills += sum(attempt(1.0) for _ in range(2))  # a day's push: a few hundred files
    assert kills >= 5
    assert current(store)[1]["seq"] >= first["seq"]
    done = insights("run", "--date", "2025-01-04", "--data-dir", str(data_dir), "--mirror", store)
    assert done.returncode == 0, done.stderr
    manifest = assert_whole(store)
    local = tree(data_dir, "lake", "warehouse", "state")
    assert {p: e["sha256"] for p, e in manifest["files"].items()} == {p: local[p] for p in manifest["files"]}
    assert set(manifest["files"]) == set(mirror.local_files(data_dir))


def test_a_second_directory_on_the_same_prefix_is_refused_and_the_newer_state_kept(store, tmp_path):
    first, second, third = tmp_path / "first", tmp_path / "second", tmp_path / "third"
    mirrored_year(first, store)
    with exclusive(second, "restore"):
        mirror.before(second, store)
    assert insights("run", "--date", "2025-01-01", "--data-dir", str(first), "--mirror", store).returncode == 0
    newer = assert_whole(store)

    done = insights("run", "--date", "2025-01-01", "--data-dir", str(second))  # its own commit, never pushed
    assert done.returncode == 0, done.stderr
    done = insights("run", "--date", "2025-01-02", "--data-dir", str(second), "--mirror", store)
    assert done.returncode == 3
    error = [line for line in done.stderr.splitlines() if line.startswith("insights: error:")]
    assert error == [f"insights: error: mirror {store} holds state 2, which this data directory did not come from "
                     "(another machine writes there): it is never replaced; to continue from it, start from an empty "
                     "data directory; to keep this one, mirror it to another prefix; the local commit stands"]
    assert done.stdout.splitlines()[-1].endswith("insights_2024-12-02_2025-01-02.json")  # its run's work is done
    assert current(store)[1] == newer
    assert_whole(store)

    # a directory with a history of its own, never restored from the mirror, is refused too
    done = insights("run", "--date", "2024-06-30", "--data-dir", str(third))
    assert insights("run", "--date", "2024-07-01", "--data-dir", str(third), "--mirror", store).returncode == 3
    assert current(store)[1] == newer

    # the first goes on
    assert insights("run", "--date", "2025-01-02", "--data-dir", str(first), "--mirror", store).returncode == 0
    assert current(store)[0]["seq"] == 3


def test_an_unreachable_store_fails_only_the_mirror_and_the_next_run_catches_up(store, tmp_path, s3):
    data_dir = tmp_path / "data"
    mirrored_year(data_dir, store)
    version = commits.read_state(data_dir).version
    away = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    done = insights("run", "--date", "2025-01-01", "--data-dir", str(data_dir), "--mirror", store, env=away)
    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if line.startswith("insights: error:")]
    assert errors == [f"insights: error: cannot read the pointer of mirror {store}: no answer from "
                      f"{away['AWS_ENDPOINT_URL']} (Connection refused); the local commit stands, and the next run "
                      "pushes it"] == done.stderr.splitlines()[-1:]
    assert "insights-test-secret" not in done.stderr
    assert commits.read_state(data_dir).version == version + 1  # the local commit stands
    record = max((json.loads(p.read_text()) for p in (data_dir / "runs").glob("*.json")), key=lambda r: r["started_at"])
    assert record["status"] == "succeeded" and record["steps"]["mirror"]["outcome"] == "failed"
    assert record["steps"]["mirror"]["error"] == errors[0].removeprefix("insights: error: ").split(
        "; the local commit stands")[0]
    assert (data_dir / "documents" / "insights_2024-12-01_2025-01-01.json").exists()
    figures = metrics(data_dir)
    assert figures["insights_mirror_last_push_success"] == 0
    assert figures["insights_mirror_failing_since_timestamp_seconds"] > figures["insights_mirror_last_success_timestamp_seconds"]
    assert current(store)[0]["seq"] == 1

    done = insights("run", "--date", "2025-01-02", "--data-dir", str(data_dir), "--mirror", store)
    assert done.returncode == 0, done.stderr
    manifest = assert_whole(store)
    local = tree(data_dir, "lake", "warehouse", "state")
    assert {p: e["sha256"] for p, e in manifest["files"].items()} == {p: local[p] for p in manifest["files"]}
    figures = metrics(data_dir)
    assert figures["insights_mirror_last_push_success"] == 1
    assert "insights_mirror_failing_since_timestamp_seconds" not in figures
    assert figures["insights_mirror_last_push_files_uploaded"] > 0


def test_a_missing_bucket_or_missing_credentials_is_one_line_and_a_profile_is_read(store, tmp_path):
    data_dir = tmp_path / "data"
    mirrored_year(data_dir, store)
    bucket = store[5:].split("/", 1)[0]
    missing = store.replace(bucket, bucket + "-none")
    done = insights("run", "--date", "2025-01-01", "--data-dir", str(data_dir), "--mirror", missing)
    assert done.returncode == 3
    assert done.stderr.splitlines()[-1] == (f"insights: error: cannot read the pointer of mirror {missing}: NoSuchBucket: "
                                            "The specified bucket does not exist; the local commit stands, and the "
                                            "next run pushes it")
    done = insights("run", "--date", "2025-01-02", "--data-dir", str(data_dir), "--mirror", store,
                    env={"AWS_SECRET_ACCESS_KEY": "not-the-key", "AWS_ACCESS_KEY_ID": "nobody"})
    assert "not-the-key" not in done.stderr + done.stdout  # moto takes any key (no IAM): no secret is ever said

    # no credentials anywhere: refused, one line saying where credentials come from
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    bare.update(HOME=str(tmp_path), AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"], AWS_REGION="us-east-1")
    run = [sys.executable, "-c", "from pipeline.cli import main; main()", "run", "--data-dir", str(data_dir),
           "--mirror", store, "--date"]
    done = subprocess.run([*run, "2025-01-03"], env=bare, capture_output=True, text=True, timeout=600)
    assert done.returncode == 3
    assert done.stderr.splitlines()[-1].startswith(f"insights: error: mirror {store} denied the request to read the "
                                                   "pointer of it (403 Forbidden): check the credentials of the AWS chain")
    # a profile's credentials (the AWS chain through boto3): the push goes through
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[team]\naws_access_key_id = from-a-profile\n"
                                                   "aws_secret_access_key = profile-secret\n")
    done = subprocess.run([*run, "2025-01-04"], env={**bare, "AWS_PROFILE": "team"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "profile-secret" not in done.stderr + done.stdout
    assert current(store)[0]["seq"] >= 2
    assert insights("run", "--date", "2025-01-02", "--data-dir", str(tmp_path / "x"), "--mirror", "s3://").returncode == 2


def test_files_only_a_replaced_state_names_are_removed_after_the_grace_period_never_by_its_commit(store, tmp_path,
                                                                                                monkeypatch):
    data_dir = tmp_path / "data"
    mirrored_year(data_dir, store)
    _, first = current(store)
    insights("run", "--date", "2025-01-01", "--data-dir", str(data_dir), "--mirror", store,
             env={"INSIGHTS_MIRROR_GRACE_SECONDS": "0"})
    _, second = current(store)
    only_first = {e["key"] for e in first["files"].values()} - {e["key"] for e in second["files"].values()}
    assert only_first and only_first <= set(objects(store))  # replaced by this commit: kept
    insights("run", "--date", "2025-01-02", "--data-dir", str(data_dir), "--mirror", store,
             env={"INSIGHTS_MIRROR_GRACE_SECONDS": "3600"})
    assert only_first <= set(objects(store))  # replaced a moment ago, within the hour: kept
    insights("run", "--date", "2025-01-03", "--data-dir", str(data_dir), "--mirror", store,
             env={"INSIGHTS_MIRROR_GRACE_SECONDS": "0"})
    stored = set(objects(store))
    assert not only_first & stored
    assert not {e["key"] for e in second["files"].values()} <= stored or second == current(store)[1]
    assert_whole(store)


def test_polars_and_duckdb_read_a_trend_from_the_mirror(store, tmp_path):
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds
    from pyarrow.fs import S3FileSystem

    data_dir = tmp_path / "data"
    mirrored_year(data_dir, store)
    local = pl.read_parquet(data_dir / "warehouse" / "user_trends" / "**" / "*.parquet", hive_partitioning=False).sort("date")

    # as the data dictionary reads it: the pointer, its manifest, the dataset's files
    bucket, prefix = store[5:].split("/", 1)
    _, manifest = current(store)
    keys = sorted(e["key"] for p, e in manifest["files"].items() if p.startswith("warehouse/user_trends/"))
    options = {"aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
               "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
               "aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"], "aws_region": "us-east-1", "aws_allow_http": "true"}
    polars = pl.read_parquet([f"s3://{bucket}/{prefix}/{k}" for k in keys], storage_options=options).sort("date")
    assert polars.equals(local)

    s3 = S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"], scheme="http", region="us-east-1",
                      access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    trend = ds.dataset([f"{bucket}/{prefix}/{k}" for k in keys], filesystem=s3, format="parquet")  # noqa: F841
    with duckdb.connect() as con:
        con.execute("SET TimeZone='UTC'")
        days = con.sql("SELECT count(*), sum(total) FROM trend").fetchall()
    assert days == [(local.height, local["total"].sum())]


def test_a_backfill_on_a_new_machine_restores_first_and_pushes_its_commit(store, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    mirrored_year(first, store)
    done = insights("backfill", "--from", "2024-12-01", "--to", "2024-12-31", "--data-dir", str(second), "--mirror", store)
    assert done.returncode == 0, done.stderr
    assert f"restored from mirror {store}: state 1" in done.stderr
    assert tree(second, "warehouse") == tree(first, "warehouse")  # the same range rebuilt: the same bytes
    pointer, manifest = current(store)
    assert pointer["seq"] == 2 and manifest["commit"] == commits.read_state(second).version
    assert "0 files uploaded" in done.stderr  # the rebuilt files are the mirrored ones, byte for byte


def test_the_daily_deployment_names_the_mirror_and_its_flow_run_pushes(store, tmp_path, prefect):
    from flows.run import insights_run
    from flows.serve import daily_deployment

    assert daily_deployment(data_dir="/srv/insights", mirror=store).parameters == {"data_dir": "/srv/insights",
                                                                                 "mirror": store}
    result = insights_run(date=dt.date(2024, 1, 14), data_dir=str(tmp_path), mirror=store)
    assert result["mirrored"]["state"] == 1 and result["mirrored"]["files"] > 0
    manifest = assert_whole(store)
    assert set(manifest["files"]) >= set(tree(tmp_path, "warehouse"))
