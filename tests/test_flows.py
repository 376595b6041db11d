"""The Prefect flows, run through the command line under one temporary Prefect server."""

import json

import pytest

from pipeline import document
from pipeline.cli import main
from tests.test_job import output_bytes


def insights(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err
    return out


def test_run_lands_the_sample_builds_and_writes_a_valid_document(prefect, capsys, tmp_path):
    out = insights(capsys, "run", "--data-dir", str(tmp_path), "--date", "2024-03-10")
    path = out.strip().splitlines()[-1]
    assert path == str(tmp_path / "documents" / "insights_2024-02-10_2024-03-10.json")
    doc = json.loads(open(path, encoding="utf-8").read())
    document.validate(doc)
    assert all(doc[array] for array in doc), {k: len(v) for k, v in doc.items()}
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert [(m["command"], m["status"]) for m in manifests] == [("run", "succeeded")]
    assert manifests[0]["steps"]["land"]["rows"]["events"] > 100
    assert manifests[0]["steps"]["land"]["watermarks"]["events"] == manifests[0]["steps"]["land"]["rows"]["events"]
    assert manifests[0]["steps"]["document"]["checks"] == {"instanceInsightsSchema": "passed"}
    assert sum(manifests[0]["steps"]["build"]["partitions"].values()) > 0
    page = tmp_path / "documents" / "insights_2024-02-10_2024-03-10.html"
    assert manifests[0]["steps"]["document"]["dashboard"] == str(page) and page.stat().st_size > 900_000
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["insights-dashboard"])))
    assert any(page.absolute().as_uri() in (a.data or "") for a in artifacts)


def test_running_twice_through_prefect_leaves_the_same_bytes(prefect, capsys, tmp_path):
    insights(capsys, "run", "--data-dir", str(tmp_path), "--date", "2024-01-21", "--seed", "5")
    first = output_bytes(tmp_path)
    insights(capsys, "run", "--data-dir", str(tmp_path), "--date", "2024-01-21", "--seed", "5")
    assert output_bytes(tmp_path) == first


def test_backfill_rewrites_a_range_with_the_same_bytes(prefect, capsys, tmp_path):
    insights(capsys, "run", "--data-dir", str(tmp_path), "--date", "2024-02-04")
    before = output_bytes(tmp_path)
    from pipeline import commits

    version = commits.read_state(tmp_path).version
    out = insights(capsys, "backfill", "--from", "2024-01-15", "--to", "2024-02-04", "--data-dir", str(tmp_path))
    assert out.startswith("26 partitions rebuilt")  # 21 days, 3 weeks and the usage of 2 months
    assert output_bytes(tmp_path) == before
    # its 26 tasks' files are published as one commit: readers see the warehouse before it or after it
    assert commits.read_state(tmp_path) == commits.CommitState(version + 1, False)
    assert not list((tmp_path / "_staging" / "deferred").glob("*.json"))


def test_run_from_postgres_never_records_the_password(prefect, capsys, postgres, tmp_path):
    from prefect.client.orchestration import get_client

    from tests.postgres_server import PASSWORD
    from tests.test_postgres import SCRIPTS

    url = postgres.create_database("unleash_flow", *SCRIPTS["8"])
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--source", url, "--data-dir", str(tmp_path), "--date", "2025-03-03"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err
    doc = json.loads(open(out.strip().splitlines()[-1], encoding="utf-8").read())
    assert [r["total"] for r in doc["userTrends"]][-1] == 4
    manifest = next((tmp_path / "runs").glob("*.json")).read_text()
    assert PASSWORD not in manifest and PASSWORD not in err and PASSWORD not in out
    assert f"postgresql://127.0.0.1:{postgres.port}/unleash_flow" in manifest
    with get_client(sync_client=True) as client:
        recorded = [json.dumps(run.parameters) for run in client.read_flow_runs()]
    assert recorded and not any(PASSWORD in p for p in recorded)


def test_an_unreachable_database_is_retried_then_fails_with_one_line(prefect, capsys, tmp_path, monkeypatch,
                                                                     connection_attempts):
    attempts = connection_attempts
    monkeypatch.setenv("INSIGHTS_SOURCE_RETRIES", "2")
    monkeypatch.setenv("INSIGHTS_SOURCE_RETRY_DELAYS", "0")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--source", "postgresql://insights:hunter2-pw@127.0.0.1:9/unleash", "--data-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    last = err.strip().splitlines()[-1]
    assert exit_.value.code == 1 and len(attempts) == 3
    assert last.startswith("insights: error: cannot connect to the Unleash database at postgresql://127.0.0.1:9/unleash")
    assert "hunter2-pw" not in err
    assert not (tmp_path / "lake").exists()
    manifest = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert manifest["status"] == "failed" and manifest["error"].startswith("SourceUnavailable: cannot connect")
    assert "hunter2-pw" not in json.dumps(manifest)


def test_a_backfill_in_this_process_and_one_through_a_prefect_flow_write_the_same_bytes(prefect, capsys, tmp_path,
                                                                                        monkeypatch):
    import shutil

    from pipeline import commits

    here, flowed = tmp_path / "here", tmp_path / "flowed"
    insights(capsys, "run", "--data-dir", str(here), "--date", "2024-02-04")
    for trend in ("flag_trends", "project_flag_trends"):  # both must rebuild these
        shutil.rmtree(here / "warehouse" / trend)
    shutil.copytree(here, flowed)
    version = commits.read_state(here).version
    insights(capsys, "backfill", "--from", "2024-01-15", "--to", "2024-02-04", "--data-dir", str(flowed))
    monkeypatch.delenv("PREFECT_API_URL")  # a new user's shell: no Prefect API configured
    with pytest.raises(SystemExit) as exit_:
        main(["backfill", "--from", "2024-01-15", "--to", "2024-02-04", "--data-dir", str(here)])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0 and out.startswith("26 partitions rebuilt")
    assert "insights backfill runs in this process: no Prefect API is configured" in err and "flow run" not in err
    assert output_bytes(here) == output_bytes(flowed)
    assert commits.read_state(here).version == commits.read_state(flowed).version == version + 1
    records = {}
    for name, data_dir in (("here", here), ("flowed", flowed)):
        [record] = [json.loads(p.read_text()) for p in (data_dir / "runs").glob("*.json")
                    if json.loads(p.read_text())["command"] == "backfill"]
        records[name] = record["steps"]["build"]["partitions"]
    assert records["here"] == records["flowed"] and len(records["here"]) == 26
