"""The JSON document: shape, order, formats, and validation against instanceInsightsSchema."""

import json

import pytest

from pipeline import document
from pipeline.document import InvalidDocument
from tests.instance import Instance


def small_document(tmp_path) -> dict:
    u = Instance()
    u.project("b-project")
    u.project("a-project")
    u.flag("a", "a-project", "2024-12-30T10:00")
    u.user(1, "2024-12-01T10:00")
    return u.insights(tmp_path, "2024-12-29", "2025-01-06")


def test_the_document_validates_and_holds_every_array(tmp_path):
    doc = small_document(tmp_path)
    document.validate(doc)
    assert list(doc) == [
        "userTrends", "flagTrends", "projectFlagTrends", "metricsSummaryTrends", "environmentTypeTrends",
        "lifecycleTrends", "creationArchiveTrends",
    ]


def test_daily_rows_cover_every_day_and_weekly_rows_every_overlapping_week(tmp_path):
    doc = small_document(tmp_path)
    assert [r["date"] for r in doc["userTrends"]] == [f"{d}T23:59:59.999Z" for d in (
        "2024-12-29", "2024-12-30", "2024-12-31", "2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04",
        "2025-01-05", "2025-01-06")]
    weeks = [(r["week"], r["date"], r["project"]) for r in doc["projectFlagTrends"]]
    assert weeks == [
        ("2024-52", "2024-12-29T23:59:59.999Z", "a-project"),
        ("2024-52", "2024-12-29T23:59:59.999Z", "b-project"),
        ("2025-01", "2025-01-05T23:59:59.999Z", "a-project"),
        ("2025-01", "2025-01-05T23:59:59.999Z", "b-project"),
        ("2025-02", "2025-01-06T23:59:59.999Z", "a-project"),
        ("2025-02", "2025-01-06T23:59:59.999Z", "b-project"),
    ]


def test_a_range_from_before_the_lakes_first_day_starts_on_that_day(tmp_path):
    u = Instance()
    u.project("p", created="2025-01-08T09:00")  # the lake's first instant
    doc = u.insights(tmp_path, "2025-01-01", "2025-01-09")
    assert [r["date"][:10] for r in doc["userTrends"]] == ["2025-01-08", "2025-01-09"]
    assert [r["week"] for r in doc["projectFlagTrends"]] == ["2025-02"]


def test_counts_are_json_integers(tmp_path):
    text = document.text(small_document(tmp_path))
    assert '"total": 1,' in text and '"timeToProduction": 0,' in text and ".0," not in text


def test_a_bad_date_format_is_rejected(tmp_path):
    doc = small_document(tmp_path)
    doc["userTrends"][0]["date"] = "2025-13-45T23:59:59.999Z"
    with pytest.raises(InvalidDocument, match="userTrends/0/date"):
        document.validate(doc)


def test_a_missing_field_is_rejected_and_nothing_is_written(tmp_path):
    doc = small_document(tmp_path)
    del doc["projectFlagTrends"][0]["health"]
    target = tmp_path / "out.json"
    with pytest.raises(InvalidDocument, match='projectFlagTrends/0: "health" is a required property'):
        document.write(tmp_path, target, doc)
    assert not target.exists()


def test_a_written_document_is_canonical_json(tmp_path):
    doc = small_document(tmp_path)
    target = tmp_path / "doc.json"
    document.write(tmp_path, target, doc)
    assert target.read_text(encoding="utf-8") == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
