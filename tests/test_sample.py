"""The sample instance: deterministic, extendable, and as rich as the issue asks."""

import datetime as dt
import hashlib

import pyarrow.compute as pc
import pytest

from pipeline import job
from pipeline.calendar import iso_week_id
from pipeline.entities import ENTITIES
from pipeline.sources.sample import SampleSource, generate

SHORT = dt.date(2024, 4, 15)


def lake_bytes(data_dir) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((data_dir / "lake").rglob("*")) if p.is_file()
    }


def test_the_same_seed_gives_the_same_bytes(tmp_path):
    job.land(tmp_path / "one", SampleSource(SHORT, seed=7))
    job.land(tmp_path / "two", SampleSource(SHORT, seed=7))
    assert lake_bytes(tmp_path / "one") == lake_bytes(tmp_path / "two")


def test_another_seed_gives_another_instance():
    assert not generate(SHORT, seed=1)["events"].equals(generate(SHORT, seed=2)["events"])


def test_a_later_date_only_adds_history():
    earlier, later = generate(SHORT, seed=3), generate(SHORT + dt.timedelta(days=20), seed=3)
    cutoff = dt.datetime(2024, 4, 16, tzinfo=dt.timezone.utc)
    for entity in ("events", "user_activity"):
        column = "created_at" if entity == "events" else "seen_at"
        kept = later[entity].filter(pc.less(later[entity][column], cutoff))
        assert kept.sort_by([(c, "ascending") for c in ENTITIES[entity].key]).equals(
            earlier[entity].sort_by([(c, "ascending") for c in ENTITIES[entity].key])
        )
    daily = later["client_metrics_daily"].filter(pc.less(later["client_metrics_daily"]["date"], dt.date(2024, 4, 9)))
    assert daily.equals(earlier["client_metrics_daily"])


def test_the_sample_starts_before_the_date():
    with pytest.raises(ValueError, match="first day, 2024-01-01"):
        generate(dt.date(2023, 12, 1))


@pytest.fixture(scope="module")
def instance():
    return generate(dt.date(2027, 1, 5), seed=1)


def values(table, column) -> set:
    return set(table[column].to_pylist())


def test_it_has_projects_one_archived_part_way(instance):
    projects = instance["projects"].to_pylist()
    assert len(projects) >= 4
    assert [p["id"] for p in projects if p["archived_at"]] == ["legacy-platform"]


def test_it_has_development_preproduction_and_two_production_environments(instance):
    types = instance["environments"]["type"].to_pylist()
    assert {"development", "preproduction", "production"} <= set(types) and types.count("production") == 2


def test_it_has_every_default_flag_type_and_a_few_hundred_flags(instance):
    assert {"release", "experiment", "operational", "kill-switch", "permission"} <= values(instance["features"], "type")
    created = instance["events"].filter(pc.equal(instance["events"]["type"], "feature-created"))
    assert 200 <= created.num_rows <= 800


def test_its_events_cover_a_flags_whole_life(instance):
    assert {
        "feature-created", "feature-archived", "feature-revived", "feature-deleted", "feature-stale-on",
        "feature-stale-off", "feature-metadata-updated", "feature-project-change", "feature-environment-enabled",
        "feature-environment-disabled", "feature-strategy-add", "feature-strategy-update", "feature-type-updated",
        "project-archived",
    } <= values(instance["events"], "type")


def test_it_has_users_of_every_kind_and_their_activity(instance):
    users = instance["users"].to_pylist()
    assert any(u["is_service"] for u in users) and any(u["is_system"] for u in users)
    assert any(u["deleted_at"] for u in users)
    assert values(instance["user_activity"], "kind") == {"login", "pat"}


def test_it_has_project_members_and_hourly_metrics_from_several_apps(instance):
    assert instance["project_members"].num_rows > 50
    assert len(values(instance["client_metrics"], "app_name")) >= 3
    assert instance["client_metrics_daily"].num_rows > instance["client_metrics"].num_rows
    assert "live" in values(instance["feature_lifecycles"], "stage")


def test_its_history_crosses_the_2024_2025_boundary_and_week_2026_53(instance):
    weeks = {iso_week_id(t.date()) for t in instance["events"]["created_at"].to_pylist()}
    assert {"2024-52", "2025-01", "2026-53"} <= weeks
