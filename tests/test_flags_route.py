"""``GET /api/insights/flags``: the flags table for scripts, chosen by project, reason and candidacy,
as JSON or CSV, behind the server's tokens."""

import csv
import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from pipeline import job
from pipeline.server.app import create_app
from pipeline.server.tokens import Tokens
from pipeline.warehouse import SCHEMAS
from tests.test_flag_datasets import constant_instance

TOKEN = "flags-route-token-0123456789abcdef"


@pytest.fixture(scope="module")
def constant(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("flags-route")
    u = constant_instance()
    u.project("q", created="2025-01-01T09:00")
    u.flag("elsewhere", "q", "2025-03-20T10:00")  # 11 days old: no reason yet
    u.land(data_dir)
    job.build(data_dir, job.plan_run(data_dir, dt.date(2025, 3, 31)))
    with TestClient(create_app(data_dir, Tokens([TOKEN]), today=lambda: dt.date(2025, 3, 31)),
                    headers={"Authorization": TOKEN}) as web:
        yield web


def names(answer) -> list[str]:
    return [row["flag"] for row in answer.json()["flags"]]


def test_the_flags_chosen_by_reason_candidacy_and_project(constant):
    answer = constant.get("/api/insights/flags", params={"reason": "always_on"})
    assert answer.status_code == 200 and answer.headers["insights-as-of"] == "2025-03-31"
    assert names(answer) == ["dev-change", "dev-mixed", "edge", "old-change", "on"]
    assert names(constant.get("/api/insights/flags", params={"reason": "always_off,stale"})) == ["off"]
    assert names(constant.get("/api/insights/flags", params={"candidates": "true"})) == [
        "dev-change", "dev-mixed", "edge", "off", "old-change", "on"]
    assert names(constant.get("/api/insights/flags", params={"project": "q"})) == ["elsewhere"]
    assert names(constant.get("/api/insights/flags", params={"project": "q", "candidates": "true"})) == []
    everything = constant.get("/api/insights/flags").json()
    assert everything["asOf"] == "2025-03-31" and len(everything["flags"]) == 11  # ten kill switches and one release


def test_csv_by_parameter_or_accept_header_and_refusals(constant):
    by_parameter = constant.get("/api/insights/flags", params={"reason": "always_off", "format": "csv"})
    by_header = constant.get("/api/insights/flags", params={"reason": "always_off"}, headers={"Accept": "text/csv"})
    assert by_parameter.headers["content-type"] == "text/csv; charset=utf-8" and by_parameter.text == by_header.text
    rows = list(csv.DictReader(io.StringIO(by_parameter.text)))
    assert [(r["flag"], r["cleanup_reason"], r["enabled_environments"], r["evaluations_30d"]) for r in rows] == [
        ("off", "always_off", "production", "150")]
    for params in ({"reason": "unused"}, {"format": "xml"}, {"candidates": "maybe"}):
        refused = constant.get("/api/insights/flags", params=params)
        assert refused.status_code == 400 and refused.json()["name"] == "BadDataError"
    assert constant.get("/api/insights/flags", headers={"Authorization": "wrong"}).status_code == 401


def typed(text: str, field: pa.Field) -> object:
    """A CSV cell as the dataset's value of its column."""
    if pa.types.is_list(field.type):
        return text.split(",") if text else []
    if text == "":
        return None
    if pa.types.is_date(field.type):
        return dt.date.fromisoformat(text)
    if pa.types.is_timestamp(field.type):
        return dt.datetime.fromisoformat(text)
    if pa.types.is_boolean(field.type):
        return {"true": True, "false": False}[text]
    return int(text) if pa.types.is_integer(field.type) else text


def test_on_the_sample_the_csv_is_the_datasets_rows(sample_warehouse):
    stored = pq.read_table(sample_warehouse / "warehouse" / "flags" / "part-0.parquet").to_pylist()
    with TestClient(create_app(sample_warehouse, Tokens([TOKEN])), headers={"Authorization": TOKEN}) as web:
        answer = web.get("/api/insights/flags", params={"format": "csv"})
    reader = csv.DictReader(io.StringIO(answer.text))
    assert reader.fieldnames == SCHEMAS["flags"].names
    rows = [{name: typed(value, SCHEMAS["flags"].field(name)) for name, value in row.items()} for row in reader]
    assert rows == stored and len(rows) > 100


def test_metrics_give_each_projects_candidates_by_reason_and_its_debt(constant):
    text = constant.get("/metrics").text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("insights_project_"))
    assert values['insights_project_cleanup_candidates{project="p",reason="always_on"}'] == "5.0"
    assert values['insights_project_cleanup_candidates{project="p",reason="always_off"}'] == "1.0"
    assert values['insights_project_cleanup_candidates{project="p",reason="stale"}'] == "0.0"
    assert values['insights_project_cleanup_candidates{project="q",reason="always_on"}'] == "0.0"
    # kill switches never go potentially stale and none is stale: no debt in either project
    assert values['insights_project_technical_debt_percent{project="p"}'] == "0.0"
    assert values['insights_project_stale_flags{project="q"}'] == "0.0"
    assert len([k for k in values if k.startswith("insights_project_cleanup_candidates")]) == 2 * 6
