"""The PostgreSQL source against a real server holding Unleash's tables (tests/unleash/*.sql).

Expected values are worked out by hand from tests/unleash/instance.sql.
"""

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import job
from pipeline.lake import Lake
from pipeline.sources import open_source
from pipeline.sources.postgres import PostgresSession, PostgresSource, SourceUnavailable, redacted, without_password
from tests.instance import by, day
from tests.postgres_server import PASSWORD

UNLEASH = Path(__file__).parent / "unleash"
PERSONAL = [
    "example.com", "Ada Admin", "Alice Liddell", "Bob Builder", "Carol Danvers", "Dave Lister", "10.1.2.3",
    "192.168.7.7", "172.16.0.9", "$2b$10$", "scim-alice", "carol-pat", "admin-pat", "6e1c0ffee0ddba11",
    "5f4dcc3b5aa765d61d8327deb882cf99", "carol laptop", "wrong password", PASSWORD,
]


@pytest.fixture
def unleash(postgres, request):
    """A fresh database holding the scenario; its name is the test's."""
    name = request.node.name.lower()[:60]
    return postgres.create_database(name, UNLEASH / "schema.sql", UNLEASH / "instance.sql"), name


def land(url: str, data_dir: Path):
    return job.land(data_dir, open_source(url, dt.date(2025, 3, 3)))


def test_extract_build_export_gives_the_hand_worked_insights(unleash, tmp_path):
    url, _ = unleash
    land(url, tmp_path)
    doc = job.export(tmp_path, dt.date(2025, 2, 3), dt.date(2025, 3, 3))

    users = {d: day(doc, "userTrends", d) for d in ("2025-02-03", "2025-03-03")}
    assert [(u["total"], u["active"], u["inactive"]) for u in users.values()] == [(5, 3, 2), (4, 2, 2)]
    flags = {d: day(doc, "flagTrends", d) for d in ("2025-02-03", "2025-03-03")}
    assert [(f["total"], f["active"], f["stale"], f["potentiallyStale"]) for f in flags.values()] == [
        (3, 2, 1, 0), (3, 1, 1, 1)]

    projects = by(doc["projectFlagTrends"], "week", "project")
    web, default = projects["2025-10", "web"], projects["2025-10", "default"]
    assert {k: web[k] for k in ("date", "total", "active", "stale", "potentiallyStale", "health", "technicalDebt",
                                "timeToProduction", "users")} == {
        "date": "2025-03-03T23:59:59.999Z", "total": 2, "active": 0, "stale": 1, "potentiallyStale": 1,
        "health": 0, "technicalDebt": 100, "timeToProduction": 3, "users": 3}
    assert (default["total"], default["active"], default["health"], default["timeToProduction"], default["users"]) == (
        1, 1, 100, 0, 0)

    metrics = {r["week"]: r for r in doc["metricsSummaryTrends"]}
    assert {w: (m["project"], m["totalYes"], m["totalNo"], m["totalRequests"], m["totalApps"], m["totalFlags"],
                m["totalEnvironments"]) for w, m in metrics.items()} == {
        "2025-09": ("web", 1000, 200, 1200, 1, 1, 1), "2025-10": ("web", 105, 25, 130, 1, 1, 2)}
    assert [(r["week"], r["environmentType"], r["totalUpdates"]) for r in doc["environmentTypeTrends"]] == [
        ("2025-06", "production", 1)]
    assert {(r["week"], r["project"], r["newProductionFlags"]) for r in doc["lifecycleTrends"]} == {
        (w, p, 0) for w in ("2025-06", "2025-07", "2025-08", "2025-09", "2025-10") for p in ("default", "web")}
    created = {(r["week"], r["project"]): r["createdFlags"] for r in doc["creationArchiveTrends"]}
    assert created["2025-10", "web"] == {"experiment": 0, "release": 0}
    assert created["2025-10", "default"] == {"kill-switch": 0, "release": 0}


def test_lifecycle_and_creation_weeks_come_from_the_database(unleash, tmp_path):
    url, _ = unleash
    land(url, tmp_path)
    doc = job.export(tmp_path, dt.date(2024, 12, 30), dt.date(2025, 1, 19))
    assert {(r["week"], r["project"]): r["newProductionFlags"] for r in doc["lifecycleTrends"]} == {
        ("2025-01", "default"): 1, ("2025-02", "default"): 0, ("2025-03", "default"): 0,
        ("2025-02", "web"): 1, ("2025-03", "web"): 0}
    weeks = {(r["week"], r["project"]): (r["createdFlags"], r["archivedFlags"]) for r in doc["creationArchiveTrends"]}
    assert weeks["2025-01", "default"] == ({"kill-switch": 1, "release": 1}, 0)
    assert weeks["2025-03", "default"] == ({"kill-switch": 0, "release": 0}, 1)
    assert weeks["2025-02", "web"] == ({"experiment": 1, "release": 1}, 0)


def test_no_personal_data_reaches_any_file_the_pipeline_writes(unleash, tmp_path):
    url, _ = unleash
    land(url, tmp_path)
    job.export(tmp_path, dt.date(2025, 1, 1), dt.date(2025, 3, 3))
    texts = []
    for path in tmp_path.rglob("*"):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts.append(json.dumps(table.to_pylist(), default=str))
            texts.append(str(table.schema.metadata))
        elif path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
    found = [p for p in PERSONAL if any(p in text for text in texts)]
    assert found == []
    assert texts, "nothing was written"


def test_a_second_extraction_lands_only_what_is_new(unleash, postgres, tmp_path):
    url, name = unleash
    land(url, tmp_path)
    postgres.execute(name, """
        INSERT INTO events (created_at, type, created_by, created_by_user_id, project, feature_name)
        VALUES ('2025-03-04 10:00+00', 'feature-stale-off', 'alice@example.com', 2, 'web', 'dark-mode');
        UPDATE features SET stale = false WHERE name = 'dark-mode';
        UPDATE client_metrics_env SET yes = 110 WHERE environment = 'production';
        INSERT INTO client_metrics_env VALUES ('checkout-v2', 'web-shop', 'production', '2025-03-04 10:00+00', 7, 3);
    """)
    landing = land(url, tmp_path)
    assert (landing.rows["events"], landing.rows["client_metrics"]) == (1, 2)
    assert "users" not in landing.rows and "client_metrics_daily" not in landing.rows
    lake = Lake(tmp_path)
    assert [pq.read_table(f).num_rows for f in lake.files("events")] == [14, 1]
    assert lake.watermarks["events"] == 15
    doc = job.export(tmp_path, dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    assert by(doc["metricsSummaryTrends"], "week")["2025-10"]["totalYes"] == 110 + 5 + 7
    assert day(doc, "flagTrends", "2025-03-04")["stale"] == 0


def test_an_interrupted_extraction_leaves_the_lake_as_it_was_and_a_rerun_completes_it(
    unleash, tmp_path, monkeypatch
):
    url, _ = unleash
    read = PostgresSession.read

    def broken(self, entity, since):
        if entity == "client_metrics":
            raise SourceUnavailable("the connection dropped")
        return read(self, entity, since)

    monkeypatch.setattr(PostgresSession, "read", broken)
    with pytest.raises(SourceUnavailable):
        land(url, tmp_path)
    assert Lake(tmp_path).generation == 0 and not (tmp_path / "lake" / "_state.json").exists()
    monkeypatch.setattr(PostgresSession, "read", read)
    landing = land(url, tmp_path)
    assert landing.generation == 1 and landing.rows["events"] == 14 and landing.rows["client_metrics"] == 2
    assert sorted(p.name for p in (tmp_path / "lake" / "events").iterdir()) == ["g000001.parquet"]


def test_older_unleash_without_optional_tables_carries_on_and_says_so_once(postgres, tmp_path, caplog):
    url = postgres.create_database("unleash_older", UNLEASH / "schema.sql", UNLEASH / "instance.sql")
    postgres.execute("unleash_older", """
        DROP TABLE feature_lifecycles; DROP TABLE login_history; DROP TABLE personal_access_tokens;
        DROP TABLE client_metrics_env_daily; DROP TABLE group_role; DROP TABLE group_user;
    """)
    with caplog.at_level("WARNING"):
        landing = land(url, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if "carrying on without" in r.getMessage()]
    assert len(warnings) == 1
    assert "feature_lifecycles, group_role, group_user, login_history, personal_access_tokens" in warnings[0]
    assert sorted(landing.absent) == ["client_metrics_daily", "feature_lifecycles"]
    doc = job.export(tmp_path, dt.date(2025, 1, 6), dt.date(2025, 1, 12))
    # no lifecycle table, and no metrics in January: no flag is known to have entered production
    assert doc["lifecycleTrends"] == []
    assert by(doc["projectFlagTrends"], "project")["web"]["users"] == 2


def test_the_read_is_one_repeatable_read_read_only_transaction(unleash):
    url, _ = unleash
    with PostgresSource(url).session() as session:
        settings = session._call(
            "SELECT current_setting('transaction_isolation') AS isolation, current_setting('transaction_read_only') AS ro"
        )
        assert settings == [("repeatable read", "on")]
        with pytest.raises(SourceUnavailable, match="read-only transaction"):
            session._call("WITH i AS (INSERT INTO projects (id, name) VALUES ('x', 'x') RETURNING 1) SELECT count(*) AS n FROM i")


def test_an_unreachable_server_fails_with_one_clear_line_and_lands_nothing(tmp_path):
    with pytest.raises(SourceUnavailable) as error:
        land(f"postgresql://insights:{PASSWORD}@127.0.0.1:9/unleash", tmp_path)
    message = str(error.value)
    assert message.startswith("cannot connect to the Unleash database at postgresql://127.0.0.1:9/unleash: ")
    assert PASSWORD not in message and "\n" not in message
    assert not (tmp_path / "lake").exists()


def test_bad_credentials_fail_without_showing_the_password(postgres, unleash, tmp_path):
    _, name = unleash
    wrong = postgres.url(name, password="not-the-Pa55word")
    with pytest.raises(SourceUnavailable) as error:
        land(wrong, tmp_path)
    assert "password authentication failed" in str(error.value)
    assert "not-the-Pa55word" not in str(error.value)


def test_the_source_name_and_parameters_never_hold_the_password():
    url = f"postgresql://insights:{PASSWORD}@db.internal:5433/unleash?sslmode=require"
    assert redacted(url) == "postgresql://db.internal:5433/unleash"
    assert without_password(url) == ("postgresql://insights@db.internal:5433/unleash?sslmode=require", PASSWORD)
    assert PASSWORD not in PostgresSource(url).name


def test_the_documented_read_only_role_can_extract_everything(unleash, postgres, tmp_path):
    _, name = unleash
    grants = (Path(__file__).parents[1] / "docs" / "unleash-reader.sql").read_text(encoding="utf-8")
    postgres.execute(name, "DROP ROLE IF EXISTS unleash_insights")
    postgres.execute(name, grants.replace(":'password'", "'reader-pw-42'"))
    try:
        url = f"postgresql://unleash_insights:reader-pw-42@127.0.0.1:{postgres.port}/{name}"
        landing = land(url, tmp_path)
        assert landing.absent == [] and landing.rows["events"] == 14 and landing.rows["user_activity"] == 5
    finally:
        postgres.execute(name, "DROP OWNED BY unleash_insights; DROP ROLE unleash_insights")


def test_the_database_going_away_mid_extraction_changes_nothing_and_the_next_run_completes(
    unleash, postgres, tmp_path, monkeypatch
):
    url, name = unleash
    land(url, tmp_path)
    postgres.execute(name, "INSERT INTO client_metrics_env VALUES ('checkout-v2', 'web-shop', 'production',"
                           " '2025-03-04 10:00+00', 7, 3)")
    state = (tmp_path / "lake" / "_state.json").read_bytes()
    read = PostgresSession.read

    def killed(self, entity, since):
        if entity == "client_metrics":
            backend = self._call("SELECT pg_backend_pid() AS pid")[0][0]
            postgres.execute("postgres", f"SELECT pg_terminate_backend({int(backend)})")
        return read(self, entity, since)

    monkeypatch.setattr(PostgresSession, "read", killed)
    with pytest.raises(SourceUnavailable, match="terminating connection due to administrator command"):
        land(url, tmp_path)
    assert (tmp_path / "lake" / "_state.json").read_bytes() == state
    monkeypatch.setattr(PostgresSession, "read", read)
    assert land(url, tmp_path).rows["client_metrics"] == 1


def test_a_statement_timeout_fails_cleanly(unleash, postgres, tmp_path, monkeypatch):
    import psycopg

    url, name = unleash
    monkeypatch.setenv("INSIGHTS_STATEMENT_TIMEOUT", "300ms")
    with psycopg.connect(postgres.url(name)) as blocker:
        blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(SourceUnavailable, match="statement timeout"):
            land(url, tmp_path)
        blocker.rollback()
    assert not (tmp_path / "lake" / "_state.json").exists()
    assert land(url, tmp_path).rows["events"] == 14


def test_a_database_without_unleash_tables_is_named_as_such(postgres, tmp_path):
    url = postgres.create_database("not_unleash", UNLEASH / "schema.sql")
    postgres.execute("not_unleash", "DROP TABLE feature_environments; DROP TABLE features CASCADE")
    with pytest.raises(SourceUnavailable, match="is not an Unleash 6\\+ database: it has no features, feature_environments"):
        land(url, tmp_path)
