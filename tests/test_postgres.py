"""The PostgreSQL source against a real server holding Unleash's tables (tests/unleash/*.sql).

Each scenario runs on the schema of Unleash 8 and of Unleash 5.12, the oldest supported. Expected
values are worked out by hand from tests/unleash/instance.sql (and instance-5.12.sql).
"""

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline import job
from pipeline.lake import Lake
from pipeline.sources import open_source
from pipeline.sources.postgres import (
    PostgresSession,
    PostgresSource,
    SourceRefused,
    SourceUnavailable,
    redacted,
    without_password,
)
from tests.instance import by, day
from tests.postgres_server import PASSWORD

UNLEASH = Path(__file__).parent / "unleash"
PERSONAL = [
    "example.com", "Ada Admin", "Alice Liddell", "Bob Builder", "Carol Danvers", "Dave Lister", "10.1.2.3",
    "192.168.7.7", "172.16.0.9", "$2b$10$", "scim-alice", "carol-pat", "admin-pat", "6e1c0ffee0ddba11",
    "5f4dcc3b5aa765d61d8327deb882cf99", "carol laptop", "wrong password", PASSWORD,
]


SCRIPTS = {
    "8": [UNLEASH / "schema-8.sql", UNLEASH / "instance.sql"],
    "5.12": [UNLEASH / "schema-8.sql", UNLEASH / "as-5.12.sql", UNLEASH / "instance.sql", UNLEASH / "instance-5.12.sql"],
}
"""The scenario as each supported Unleash holds it."""


@dataclass
class Database:
    url: str
    name: str
    version: str


def database_name(request) -> str:
    """A database name for the test (parameters included), safe in a URL."""
    return re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:60]


@pytest.fixture(params=list(SCRIPTS))
def unleash(postgres, request):
    """A fresh database holding the scenario on one Unleash version's schema; its name is the test's."""
    name = database_name(request)
    return Database(postgres.create_database(name, *SCRIPTS[request.param]), name, request.param)


def land(url: str, data_dir: Path):
    return job.land(data_dir, open_source(url, dt.date(2025, 3, 3)))


def test_extract_build_export_gives_the_hand_worked_insights(unleash, tmp_path):
    landing = land(unleash.url, tmp_path)
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
    lifecycle = {(r["week"], r["project"], r["newProductionFlags"]) for r in doc["lifecycleTrends"]}
    if unleash.version == "8":  # both flags went live in January (feature_lifecycles)
        assert lifecycle == {(w, p, 0) for w in ("2025-06", "2025-07", "2025-08", "2025-09", "2025-10")
                             for p in ("default", "web")}
    else:  # no stages: checkout-v2 is live from its first production metrics, the daily row of Sunday 2025-03-02
        assert lifecycle == {("2025-09", "web", 1), ("2025-10", "web", 0)}
    created = {(r["week"], r["project"]): r["createdFlags"] for r in doc["creationArchiveTrends"]}
    assert created["2025-10", "web"] == {"experiment": 0, "release": 0}
    assert created["2025-10", "default"] == {"kill-switch": 0, "release": 0}
    ghost = {"client_metrics": {"unknown flag": 1}} if unleash.version == "5.12" else {}
    assert landing.quarantined == ghost


def test_lifecycle_and_creation_weeks_come_from_the_database(unleash, tmp_path):
    land(unleash.url, tmp_path)
    doc = job.export(tmp_path, dt.date(2024, 12, 30), dt.date(2025, 1, 19))
    lifecycle = {(r["week"], r["project"]): r["newProductionFlags"] for r in doc["lifecycleTrends"]}
    if unleash.version == "8":
        assert lifecycle == {("2025-01", "default"): 1, ("2025-02", "default"): 0, ("2025-03", "default"): 0,
                             ("2025-02", "web"): 1, ("2025-03", "web"): 0}
    else:  # no stages, and no production metrics before March
        assert lifecycle == {}
    weeks = {(r["week"], r["project"]): (r["createdFlags"], r["archivedFlags"]) for r in doc["creationArchiveTrends"]}
    assert weeks["2025-01", "default"] == ({"kill-switch": 1, "release": 1}, 0)
    assert weeks["2025-03", "default"] == ({"kill-switch": 0, "release": 0}, 1)
    assert weeks["2025-02", "web"] == ({"experiment": 1, "release": 1}, 0)


def test_no_personal_data_reaches_any_file_the_pipeline_writes(unleash, tmp_path):
    land(unleash.url, tmp_path)
    job.export(tmp_path, dt.date(2025, 1, 1), dt.date(2025, 3, 3))
    texts = []
    for path in tmp_path.rglob("*"):
        if path.suffix == ".parquet":
            table = pq.read_table(path)  # as text in DuckDB: a history's latest rows last until 'infinity'
            texts.append(str(duckdb.from_arrow(table).select("COLUMNS(*)::VARCHAR").fetchall()))
            texts.append(str(table.schema.metadata))
        elif path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
    found = [p for p in PERSONAL if any(p in text for text in texts)]
    assert found == []
    assert texts, "nothing was written"


def test_a_second_extraction_lands_only_what_is_new(unleash, postgres, tmp_path):
    url, name = unleash.url, unleash.name
    land(url, tmp_path)
    postgres.execute(name, """
        INSERT INTO events (created_at, type, created_by, created_by_user_id, project, feature_name)
        VALUES ('2025-03-04 10:00+00', 'feature-stale-off', 'alice@example.com', 2, 'web', 'dark-mode');
        UPDATE features SET stale = false WHERE name = 'dark-mode';
        UPDATE client_metrics_env SET yes = 110 WHERE environment = 'production' AND feature_name = 'checkout-v2';
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
    url = unleash.url
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
    assert sorted(p.name for p in (tmp_path / "lake" / "events").iterdir()) == ["flags-g000001.parquet", "g000001.parquet"]  # the events, the flag names they name


def test_without_its_optional_tables_a_run_carries_on_and_says_so_once(postgres, tmp_path, caplog):
    url = postgres.create_database("unleash_without_optional", *SCRIPTS["8"])
    postgres.execute("unleash_without_optional", """
        DROP TABLE login_history; DROP TABLE personal_access_tokens;
        DROP TABLE client_metrics_env_daily; DROP TABLE group_role; DROP TABLE group_user;
    """)
    with caplog.at_level("WARNING"):
        landing = land(url, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if "carrying on" in r.getMessage()]
    assert len(warnings) == 1
    for lacking in ("no personal_access_tokens table (personal-access-token use does not count as activity)",
                    "no login_history table (only each user's last login counts as activity)",
                    "no group_role table, no group_user table (members through groups do not count)",
                    "no client_metrics_env_daily table (days without hourly metrics count no evaluations)"):
        assert lacking in warnings[0]
    assert landing.absent == ["client_metrics_daily"]
    doc = job.export(tmp_path, dt.date(2025, 1, 6), dt.date(2025, 1, 12))
    # members: Ada and Alice directly; Carol only through the group, which is gone
    assert by(doc["projectFlagTrends"], "project")["web"]["users"] == 2
    # activity: only users.seen_at (Ada 2025-03-03, Alice 2025-03-02, Bob 2025-01-10): Bob alone by 2025-01-12
    assert day(doc, "userTrends", "2025-01-12")["active"] == 1


def test_unleash_5_12_lands_with_projects_that_are_never_archived_and_one_warning(postgres, tmp_path, caplog):
    url = postgres.create_database("unleash_5_12_warning", *SCRIPTS["5.12"])
    with caplog.at_level("INFO"):
        landing = land(url, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings  # the schema; ghost-flag's metrics set aside are information
    assert "no projects.archived_at column (projects are never archived, as in Unleash 5); carrying on" in warnings[0]
    assert any("of flags the instance does not know" in r.getMessage() for r in caplog.records if r.levelname == "INFO")
    assert landing.absent == [] and landing.rows["projects"] == 2
    assert pq.read_table(Lake(tmp_path).latest_snapshot("projects"))["archived_at"].null_count == 2


def test_a_database_older_than_unleash_5_12_is_refused_naming_what_it_lacks(postgres, tmp_path):
    url = postgres.create_database("unleash_5_11", *SCRIPTS["5.12"])
    postgres.execute("unleash_5_11", "DROP TABLE feature_lifecycles")  # the one table 5.12 added that we read
    with pytest.raises(SourceRefused) as error:
        land(url, tmp_path)
    assert str(error.value) == (
        f"the database at postgresql://127.0.0.1:{postgres.port}/unleash_5_11 is not an Unleash database this "
        "version can read: it has no feature_lifecycles table; supported: Unleash 5.12 and later (5.12 to 8.x are "
        "tested)")
    assert not (tmp_path / "lake").exists()


def test_the_read_is_one_repeatable_read_read_only_transaction(unleash):
    with PostgresSource(unleash.url).session() as session:
        settings = session._call(
            "SELECT current_setting('transaction_isolation') AS isolation, current_setting('transaction_read_only') AS ro"
        )
        assert settings == [("repeatable read", "on")]
        with pytest.raises(SourceRefused, match="read-only transaction"):
            session._call("WITH i AS (INSERT INTO projects (id, name) VALUES ('x', 'x') RETURNING 1) SELECT count(*) AS n FROM i")


def test_an_unreachable_server_fails_with_one_clear_line_and_lands_nothing(tmp_path):
    with pytest.raises(SourceUnavailable) as error:
        land(f"postgresql://insights:{PASSWORD}@127.0.0.1:9/unleash", tmp_path)
    message = str(error.value)
    assert message.startswith("cannot connect to the Unleash database at postgresql://127.0.0.1:9/unleash: ")
    assert PASSWORD not in message and "\n" not in message
    assert not (tmp_path / "lake").exists()


def test_bad_credentials_are_refused_without_showing_the_password(postgres, unleash, tmp_path):
    wrong = postgres.url(unleash.name, password="not-the-Pa55word")
    with pytest.raises(SourceRefused) as error:
        land(wrong, tmp_path)
    assert "password authentication failed" in str(error.value)
    assert "not-the-Pa55word" not in str(error.value)


def test_the_source_name_and_parameters_never_hold_the_password():
    url = f"postgresql://insights:{PASSWORD}@db.internal:5433/unleash?sslmode=require"
    assert redacted(url) == "postgresql://db.internal:5433/unleash"
    assert without_password(url) == ("postgresql://insights@db.internal:5433/unleash?sslmode=require", PASSWORD)
    assert PASSWORD not in PostgresSource(url).name


def test_the_documented_read_only_role_can_extract_everything(unleash, postgres, tmp_path):
    name = unleash.name
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
    url, name = unleash.url, unleash.name
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

    url, name = unleash.url, unleash.name
    monkeypatch.setenv("INSIGHTS_STATEMENT_TIMEOUT", "300ms")
    with psycopg.connect(postgres.url(name)) as blocker:
        blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(SourceUnavailable, match="statement timeout"):
            land(url, tmp_path)
        blocker.rollback()
    assert not (tmp_path / "lake" / "_state.json").exists()
    assert land(url, tmp_path).rows["events"] == 14


def test_a_database_without_unleash_tables_is_named_as_such(postgres, tmp_path):
    url = postgres.create_database("not_unleash")
    postgres.execute("not_unleash", "CREATE TABLE orders (id INTEGER)")
    with pytest.raises(SourceRefused, match="holds no Unleash tables \\(no events, no features\\): check the database"):
        land(url, tmp_path)
