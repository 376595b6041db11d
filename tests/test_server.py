"""The insights server (SPEC §7): the same documents as `insights export`, its errors, tokens,
ETags, gzip, readiness, metrics and contract; in process, through Starlette's test client."""

import datetime as dt
import time
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from pipeline import document, job
from pipeline.manifest import RunManifest
from pipeline.server.app import create_app
from pipeline.server.tokens import Tokens, TokensMissing
from tests.instance import Instance

ROOT = Path(__file__).parents[1]
TOKEN = "served-token-0123456789abcdef"
AUTHORIZED = {"Authorization": TOKEN}
AS_OF = dt.date(2026, 1, 31)  # the day conftest's sample_warehouse is built up to


def client(data_dir: Path, today: dt.date = AS_OF) -> TestClient:
    return TestClient(create_app(data_dir, Tokens([TOKEN]), today=lambda: today))


@pytest.fixture
def sample_dir(sample_warehouse) -> Path:
    return sample_warehouse


@pytest.mark.parametrize(("first", "last"), [
    ("2025-12-15", "2026-01-15"),  # across the ISO year: 2025-12-29 opens week 2026-01; ends mid-week
    ("2023-12-01", "2024-01-20"),  # from before the warehouse's first day, 2024-01-01
    (None, None),  # the default: the month up to today
])
def test_the_served_document_is_the_exported_one(sample_dir, first, last):
    query = f"?from={first}&to={last}" if first else ""
    served = client(sample_dir).get(f"/api/admin/insights{query}", headers=AUTHORIZED)
    assert served.status_code == 200
    default_first, default_last = dt.date(2025, 12, 31), AS_OF
    exported = job.export(sample_dir, dt.date.fromisoformat(first) if first else default_first,
                          dt.date.fromisoformat(last) if last else default_last)
    assert served.json() == exported
    assert all(exported[array] for array in exported)
    covers = {"2025-12-15": "2025-12-15/2026-01-15", "2023-12-01": "2024-01-01/2024-01-20", None: "2025-12-31/2026-01-31"}
    assert served.headers["Insights-Covers"] == covers[first]


def test_an_empty_from_or_to_means_its_default_as_unleash_sends_it(sample_dir):
    web = client(sample_dir)
    assert web.get("/api/admin/insights?from=&to=", headers=AUTHORIZED).json() == \
        web.get("/api/admin/insights?from=2025-12-31&to=2026-01-31", headers=AUTHORIZED).json()
    unknown = web.get("/api/admin/insights?from=2026-01-01&to=2026-01-02&project=x&flavour=1", headers=AUTHORIZED)
    assert unknown.status_code == 200 and unknown.headers["Insights-Covers"] == "2026-01-01/2026-01-02"


def test_rows_stop_at_the_last_day_the_warehouse_covers(sample_dir):
    served = client(sample_dir).get("/api/admin/insights?from=2026-01-25&to=2026-02-10", headers=AUTHORIZED)
    assert served.headers["Insights-Covers"] == "2026-01-25/2026-01-31"
    assert [r["date"][:10] for r in served.json()["userTrends"]][-1] == "2026-01-31"
    nothing = client(sample_dir).get("/api/admin/insights?from=2027-01-01&to=2027-01-31", headers=AUTHORIZED)
    assert nothing.headers["Insights-Covers"] == "none" and all(v == [] for v in nothing.json().values())


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-02-30", "'2026-02-30' is not a day of the calendar"),
    ("to=31-01-2026", "'31-01-2026' is not a day: write it as YYYY-MM-DD"),
    ("from=2026-01-10&to=2026-01-01", "from 2026-01-10 is after to 2026-01-01"),
    ("from=2015-01-01&to=2026-01-01", "is over ten years"),
])
def test_a_bad_range_is_400_in_unleashs_error_shape(sample_dir, query, message):
    answer = client(sample_dir).get(f"/api/admin/insights?{query}", headers=AUTHORIZED)
    assert answer.status_code == 400
    assert set(answer.json()) == {"name", "message"} and answer.json()["name"] == "BadDataError"
    assert message in answer.json()["message"] and "Traceback" not in answer.text


@pytest.mark.parametrize("query", ["to=0001-01-15", "from=0001-01-01&to=0001-01-01", "from=9999-12-25&to=9999-12-31"])
def test_the_calendars_first_and_last_days_are_answered_with_no_rows(sample_dir, query):
    answer = client(sample_dir).get(f"/api/admin/insights?{query}", headers=AUTHORIZED)
    assert answer.status_code == 200 and answer.headers["Insights-Covers"] == "none"
    assert all(rows == [] for rows in answer.json().values())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "not-the-token-0123456789"}, {"Authorization": ""},
                                     {"Authorization": f"Basic {TOKEN}"}])
@pytest.mark.parametrize("path", ["/api/admin/insights", "/api/admin/insights/lifecycle", "/metrics", "/openapi.yaml"])
def test_without_one_of_the_tokens_every_route_is_401(sample_dir, headers, path):
    answer = client(sample_dir).get(path, headers=headers)
    assert answer.status_code == 401 and answer.json()["name"] == "AuthenticationRequired"


def test_a_token_in_the_query_string_is_not_a_token(sample_dir):
    web = client(sample_dir)
    for query in (f"token={TOKEN}", f"Authorization={TOKEN}", f"apiKey={TOKEN}"):
        assert web.get(f"/api/admin/insights?{query}").status_code == 401


def test_the_token_is_taken_raw_or_as_a_bearer_token(sample_dir):
    web = client(sample_dir)
    assert web.get("/api/admin/insights", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert web.get("/api/admin/insights", headers={"Authorization": f"bearer  {TOKEN} "}).status_code == 200


def test_health_and_ready_need_no_token(sample_dir, tmp_path):
    assert client(sample_dir).get("/health").json() == {"health": "GOOD"}
    assert client(tmp_path / "nowhere").get("/health").json() == {"health": "GOOD"}  # no I/O at all
    assert client(sample_dir).get("/ready").json() == {"health": "GOOD"}


def test_ready_is_503_until_a_build_commits(tmp_path):
    u = Instance()
    u.project("p")
    u.land(tmp_path)
    web = client(tmp_path, dt.date(2025, 1, 10))
    waiting = web.get("/ready")
    assert waiting.status_code == 503 and "no build has committed a warehouse" in waiting.json()["message"]
    assert web.get("/api/admin/insights", headers=AUTHORIZED).status_code == 503
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 10)))
    assert web.get("/ready").status_code == 200
    assert web.get("/api/admin/insights", headers=AUTHORIZED).status_code == 200


def test_a_warehouse_a_build_died_committing_to_is_503_until_the_next_commit(tmp_path):
    from pipeline import commits

    u = Instance()
    u.project("p")
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 10)))
    (tmp_path / "state" / "warehouse.json").write_text(json.dumps({"version": 1, "publishing": True}))
    web = client(tmp_path, dt.date(2025, 1, 10))
    torn = web.get("/api/admin/insights", headers=AUTHORIZED)
    assert torn.status_code == 503 and "died while committing" in torn.json()["message"]
    assert web.get("/ready").status_code == 503
    job.export(tmp_path, dt.date(2025, 1, 1), dt.date(2025, 1, 10))  # nothing left to rebuild: it commits as it is
    assert commits.read_state(tmp_path) == commits.CommitState(2, False)
    assert web.get("/ready").status_code == 200


def test_an_etag_names_the_committed_state_and_if_none_match_gets_304(tmp_path):
    u = Instance()
    u.project("p")
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 10)))
    web = client(tmp_path, dt.date(2025, 1, 10))
    first = web.get("/api/admin/insights", headers=AUTHORIZED)
    assert first.headers["ETag"] == 'W/"1"'  # commit 1
    again = web.get("/api/admin/insights", headers={**AUTHORIZED, "If-None-Match": first.headers["ETag"]})
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", first.headers["ETag"])
    u.flag("a", "p", "2025-01-08T10:00")
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    assert web.get("/api/admin/insights", headers={**AUTHORIZED, "If-None-Match": 'W/"1"'}).status_code == 304  # landed, not built
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 10)))
    # the new commit is loaded in the background: meanwhile the state held before answers
    answers = [web.get("/api/admin/insights", headers={**AUTHORIZED, "If-None-Match": first.headers["ETag"]})]
    while answers[-1].headers["ETag"] != 'W/"2"' and len(answers) < 100:
        time.sleep(0.1)
        answers.append(web.get("/api/admin/insights", headers={**AUTHORIZED, "If-None-Match": first.headers["ETag"]}))
    assert {a.headers["ETag"] for a in answers[:-1]} <= {'W/"1"'} and {a.status_code for a in answers[:-1]} <= {304}
    assert answers[-1].headers["ETag"] == 'W/"2"' and answers[-1].status_code == 200
    assert answers[-1].json()["flagTrends"][-1]["total"] == 1


def test_a_large_body_is_gzipped_when_the_client_accepts_it(sample_dir):
    web = client(sample_dir)
    zipped = web.get("/api/admin/insights", headers={**AUTHORIZED, "Accept-Encoding": "gzip"})
    plain = web.get("/api/admin/insights", headers={**AUTHORIZED, "Accept-Encoding": "identity"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert int(zipped.headers["Content-Length"]) < len(plain.content) / 5
    assert zipped.json() == plain.json()  # the client undid the gzip
    assert zipped.headers["Vary"] == "Accept-Encoding"


def test_the_lifecycle_route_gives_the_hand_worked_figures(tmp_path):
    from tests.test_lifecycle import AS_OF as LIFECYCLE_DAY
    from tests.test_lifecycle import land_stages, stage

    from pipeline.warehouse import flags_partition

    land_stages(tmp_path)
    job.build(tmp_path, [job.day_partition(LIFECYCLE_DAY)])  # the warehouse's last day is 2025-03-10
    web = client(tmp_path, LIFECYCLE_DAY)
    unpublished = web.get("/api/admin/insights/lifecycle?projects=q,r", headers=AUTHORIZED)
    assert unpublished.status_code == 503 and "no run has published the lifecycle figures" in unpublished.json()["message"]
    job.build(tmp_path, [flags_partition(LIFECYCLE_DAY)])  # what a run publishes beside its days
    answer = unpublished
    for _ in range(100):  # the new commit is loaded in the background
        answer = web.get("/api/admin/insights/lifecycle?projects=q,r", headers=AUTHORIZED)
        if answer.status_code == 200:
            break
        time.sleep(0.1)
    assert answer.status_code == 200 and answer.headers["Insights-As-Of"] == "2025-03-10"
    assert answer.json()["lifecycleTrends"]["production"] == stage(
        {"experimental": (0, 0), "release": (1, 0), "permanent": (0, 1)}, 2, 25.5, 0)
    every = web.get("/api/admin/insights/lifecycle?projects=", headers=AUTHORIZED).json()
    assert every == web.get("/api/admin/insights/lifecycle?projects=*", headers=AUTHORIZED).json()
    assert every["lifecycleTrends"]["develop"]["totalFlags"] == 2


def test_metrics_say_how_the_last_runs_went(tmp_path):
    u = Instance()
    u.project("p")
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 1, 10)))
    with RunManifest(tmp_path, "run", {}) as manifest:
        with manifest.step("land") as step:
            step["rows"] = {"events": 1, "projects": 1}
        with manifest.step("build") as step:
            step["partitions"] = {"day=2025-01-10": 2, "week=2025-02": 1}
    succeeded = manifest.record["finished_at"]
    with pytest.raises(RuntimeError), RunManifest(tmp_path, "run", {}):
        raise RuntimeError("the source was down")
    text = client(tmp_path, dt.date(2025, 1, 10)).get("/metrics", headers=AUTHORIZED).text
    values = dict(re.findall(r"^(insights_[^ ]+) (\S+)$", text, flags=re.M))
    assert values['insights_last_run_success{command="run"}'] == "0.0"
    assert float(values['insights_last_successful_run_end_timestamp_seconds{command="run"}']) == \
        dt.datetime.fromisoformat(succeeded).timestamp()
    assert values['insights_last_run_partitions_built{command="run"}'] == "0.0"  # the failed run built none
    assert float(values['insights_warehouse_day_timestamp_seconds{end="last"}']) == \
        dt.datetime(2025, 1, 10, tzinfo=dt.timezone.utc).timestamp()
    assert 'insights_http_requests_total{route="/metrics",status="200"}' not in values  # counted when answered
    again = client(tmp_path, dt.date(2025, 1, 10))
    again.get("/api/admin/insights", headers=AUTHORIZED)
    assert 'insights_http_requests_total{route="/api/admin/insights",status="200"} 1.0' in \
        again.get("/metrics", headers=AUTHORIZED).text


def test_the_alert_rules_use_only_metrics_the_server_exposes(sample_dir):
    exposed = set(re.findall(r"^# TYPE (\S+) (\w+)", client(sample_dir).get("/metrics", headers=AUTHORIZED).text,
                             flags=re.M))
    names = {name for name, _ in exposed} | {f"{name}_total" for name, kind in exposed if kind == "counter"}
    rules = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} == {"InsightsNoSuccessfulRun", "InsightsLastRunFailed", "InsightsQuarantineRising",
                                            "InsightsTechnicalDebtRising", "InsightsNewAlwaysOnFlags", "InsightsDigestUndelivered",
                                            "InsightsMirrorBehind"}
    for alert in alerts:
        used = set(re.findall(r"\binsights_\w+", alert["expr"]))
        assert used and used <= names, alert["alert"]


def test_the_contract_keeps_the_seeds_instance_insights_schema():
    path = ROOT.parent / "shared" / "seed" / "instance-insights-openapi.yaml"  # the seed, beside the checkout
    if not path.exists() and not os.environ.get("CI"):
        pytest.skip(f"the seed contract is not beside this checkout ({path})")
    seed = yaml.safe_load(path.read_text(encoding="utf-8"))
    ours = document.contract()
    for name, schema in seed["components"]["schemas"].items():
        assert ours["components"]["schemas"][name] == schema, name
    assert ours["paths"]["/api/admin/insights"]["get"]["responses"]["200"]["content"] == \
        seed["paths"]["/api/admin/insights"]["get"]["responses"]["200"]["content"]


def test_the_server_serves_its_contract(sample_dir):
    answer = client(sample_dir).get("/openapi.yaml", headers=AUTHORIZED)
    assert yaml.safe_load(answer.text) == document.contract()


def test_no_token_no_password_and_no_personal_data_in_any_answer_header_or_log_line(postgres, tmp_path, caplog):
    from pipeline.sources import open_source
    from tests.postgres_server import PASSWORD
    from tests.test_postgres import PERSONAL, SCRIPTS

    url = postgres.create_database("unleash_served", *SCRIPTS["8"])
    job.land(tmp_path, open_source(url, dt.date(2025, 3, 3)))
    job.build(tmp_path, job.plan_run(tmp_path, dt.date(2025, 3, 3)))
    web = client(tmp_path, dt.date(2025, 3, 3))
    seen = []
    with caplog.at_level(logging.DEBUG):
        for path in ["/api/admin/insights?from=2025-01-01&to=2025-03-03", "/api/admin/insights/lifecycle",
                     "/metrics", "/openapi.yaml", "/health", "/ready", f"/api/admin/insights?token={TOKEN}", "/nowhere",
                     f"/{TOKEN}"]:
            for headers in (AUTHORIZED, {"Authorization": f"Bearer {TOKEN}"}, {}):
                answer = web.get(path, headers=headers)
                seen += [answer.text, json.dumps(dict(answer.headers))]
    seen += [record.getMessage() for record in caplog.records if not record.name.startswith("httpx")]  # the client's
    assert any("/api/admin/insights 200" in line for line in seen)  # the log lines were captured
    leaked = [secret for secret in [TOKEN, PASSWORD, *PERSONAL] if any(secret in text for text in seen)]
    assert leaked == []


def test_tokens_come_from_a_file_or_the_environment_and_none_refuses_to_start(tmp_path):
    listed = tmp_path / "tokens"
    listed.write_text(f"# operators\n{TOKEN}\n\n  second-token-0123456789abcdef  \n")
    tokens = Tokens.from_environment({"INSIGHTS_WEB_TOKENS_FILE": str(listed), "INSIGHTS_WEB_TOKENS": "third-token-0123456789"})
    assert all(tokens.admit(t) for t in (TOKEN, "second-token-0123456789abcdef", "Bearer third-token-0123456789"))
    assert not tokens.admit("# operators") and not tokens.admit("")
    with pytest.raises(TokensMissing, match="no token is configured"):
        Tokens.from_environment({})
    with pytest.raises(TokensMissing, match="shorter than 16 characters"):
        Tokens.from_environment({"INSIGHTS_WEB_TOKENS": "short"})
    with pytest.raises(TokensMissing, match="cannot read the tokens file"):
        Tokens.from_environment({"INSIGHTS_WEB_TOKENS_FILE": str(tmp_path / "missing")})


def test_insights_web_without_a_token_refuses_to_start_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "web", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=ROOT)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("insights: error: no token is configured") and "INSIGHTS_WEB_TOKENS_FILE" in done.stderr


def test_the_serving_process_imports_no_prefect(sample_dir):
    code = ("import sys; from starlette.testclient import TestClient; from pipeline.server.app import create_app; "
            "from pipeline.server.tokens import Tokens; "
            f"web = TestClient(create_app({str(sample_dir)!r}, Tokens([{TOKEN!r}]))); "
            f"assert web.get('/api/admin/insights', headers={{'Authorization': {TOKEN!r}}}).status_code == 200; "
            "print('prefect' in sys.modules)")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_every_range_is_answered_with_the_lake_removed_as_export_of_the_intact_directory_gives_it(sample_warehouse,
                                                                                              tmp_path):
    """A server on a machine that holds only the warehouse and the committed state."""
    import random
    import shutil

    served = tmp_path / "served"
    shutil.copytree(sample_warehouse, served, ignore=shutil.ignore_patterns("lake"))
    assert not (served / "lake").exists()
    web = client(served)
    rng = random.Random(20261207)
    for _ in range(12):
        first = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(760))
        last = first + dt.timedelta(days=rng.randrange(1, 120))
        answered = web.get(f"/api/admin/insights?from={first}&to={last}", headers=AUTHORIZED)
        assert answered.status_code == 200, answered.text
        assert answered.json() == job.export(sample_warehouse, first, last), (first, last)


def test_what_the_server_cannot_read_is_503_never_a_200_with_rows_missing(sample_warehouse, tmp_path):
    import shutil

    served = tmp_path / "served"
    shutil.copytree(sample_warehouse, served, ignore=shutil.ignore_patterns("lake"))
    records = served / "state" / "partitions"
    week = next(records.glob("week=2025-2*.json"))
    week.unlink()  # a week the committed state no longer holds
    web = client(served)
    answered = web.get("/api/admin/insights?from=2025-05-01&to=2025-07-31", headers=AUTHORIZED)
    assert answered.status_code == 503 and answered.json()["name"] == "ServiceUnavailable"
    assert "does not hold" in answered.json()["message"] and "insights backfill" in answered.json()["message"]
    assert web.get("/api/admin/insights?from=2025-09-01&to=2025-09-30", headers=AUTHORIZED).status_code == 200
