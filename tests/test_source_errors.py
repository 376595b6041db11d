"""Source errors: a permanent one (the schema, a grant, the password) is reported at once in one
line; a transient one (the server away, a timeout) is retried. Through the library and through
`insights run`, which runs the Prefect flow."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pytest

from pipeline.cli import main
from pipeline.sources.postgres import QUERIES, STAND_INS, SourceRefused, is_transient, reads
from tests.postgres_server import PASSWORD
from tests.test_postgres import SCRIPTS, database_name, land

READER_GRANTS = (Path(__file__).parents[1] / "docs" / "unleash-reader.sql").read_text(encoding="utf-8")
READER_PASSWORD = "reader-pw-42"


def reader(postgres, database: str) -> str:
    """The URL of a role with the documented grants on a database (a role of its own: roles are cluster-wide)."""
    role = f"reader_{database}"[:63]
    postgres.execute(database, READER_GRANTS.replace("unleash_insights", role).replace(":'password'",
                                                                                      f"'{READER_PASSWORD}'"))
    return f"postgresql://{role}:{READER_PASSWORD}@127.0.0.1:{postgres.port}/{database}"


@pytest.fixture
def broken(postgres, request):
    """A database of one permanent fault, named by the test's parameter: its URL."""
    fault = request.param
    name = database_name(request)
    url = postgres.create_database(name, *SCRIPTS["5.12" if fault == "older than 5.12" else "8"])
    if fault == "older than 5.12":
        postgres.execute(name, "DROP TABLE feature_lifecycles")
    elif fault == "missing column":
        postgres.execute(name, "ALTER TABLE users DROP COLUMN is_system")
    elif fault == "missing table":
        postgres.execute(name, "DROP TABLE environments CASCADE")
    elif fault == "permission denied":
        url = reader(postgres, name)
        postgres.execute(name, f"REVOKE SELECT (data) ON events FROM {urlsplit(url).username}")
    elif fault == "bad password":
        url = postgres.url(name, password="not-the-Pa55word")
    return url


FAULTS = {
    "older than 5.12": "it has no feature_lifecycles table; supported: Unleash 5.12 and later",
    "missing column": "it has no users.is_system column; supported: Unleash 5.12 and later",
    "missing table": "it has no environments table; supported",
    "permission denied": "may not read events.data: grant SELECT on them (docs/unleash-reader.sql",
    "bad password": 'password authentication failed for user "insights" (check the user, and the password',
}


@pytest.mark.parametrize("broken", list(FAULTS), indirect=True)
def test_a_permanent_fault_is_refused_naming_it(broken, request, tmp_path):
    fault = request.node.callspec.params["broken"]
    with pytest.raises(SourceRefused) as error:
        land(broken, tmp_path)
    assert FAULTS[fault] in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize("broken", list(FAULTS), indirect=True)
def test_a_run_on_a_permanent_fault_tries_once_and_fails_in_one_line(broken, request, prefect, capsys, tmp_path,
                                                                     monkeypatch, connection_attempts):
    attempts = connection_attempts
    monkeypatch.setenv("INSIGHTS_SOURCE_RETRIES", "3")
    monkeypatch.setenv("INSIGHTS_SOURCE_RETRY_DELAYS", "0")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--source", broken, "--data-dir", str(tmp_path), "--date", "2025-03-03"])
    _, err = capsys.readouterr()
    assert exit_.value.code == 1 and len(attempts) == 1
    errors = [line for line in err.splitlines() if line.startswith("insights: error: ")]
    assert len(errors) == 1 and FAULTS[request.node.callspec.params["broken"]] in errors[0]
    assert PASSWORD not in err and READER_PASSWORD not in err and "not-the-Pa55word" not in err


def run_insights(*args: str) -> subprocess.CompletedProcess:
    """`insights` in a process of its own, against the tests' Prefect server, its terminal captured."""
    environment = {**os.environ, "INSIGHTS_SOURCE_RETRIES": "2", "INSIGHTS_SOURCE_RETRY_DELAYS": "0",
                   "PREFECT_LOGGING_COLORS": "false"}
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                          capture_output=True, text=True, env=environment, timeout=300)


@pytest.mark.parametrize("broken", ["older than 5.12"], indirect=True)
def test_the_terminal_shows_a_permanent_fault_without_a_traceback_or_a_retry(broken, prefect, tmp_path):
    done = run_insights("run", "--source", broken, "--data-dir", str(tmp_path), "--date", "2025-03-03")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Retry 1/2" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("insights: error: ")]
    assert len(errors) == 1 and FAULTS["older than 5.12"] in errors[0]
    assert done.stderr.count(FAULTS["older than 5.12"]) == 1, done.stderr  # said once, not by each Prefect run too
    debug = run_insights("--debug", "run", "--source", broken, "--data-dir", str(tmp_path), "--date", "2025-03-03")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_the_terminal_shows_a_transient_fault_retried_without_a_traceback(prefect, tmp_path):
    done = run_insights("run", "--source", "postgresql://insights@127.0.0.1:9/unleash", "--data-dir", str(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "Retry 1/2 will start" in done.stderr and "Retry 2/2 will start" in done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("insights: error: ")]
    assert len(errors) == 1 and "Connection refused" in errors[0]


def test_an_optional_table_the_role_may_not_read_is_done_without(postgres, tmp_path, caplog):
    postgres.create_database("unleash_no_login_history_grant", *SCRIPTS["8"])
    url = reader(postgres, "unleash_no_login_history_grant")
    postgres.execute("unleash_no_login_history_grant", f"REVOKE SELECT ON login_history FROM {urlsplit(url).username}")
    with caplog.at_level("WARNING"):
        landing = land(url, tmp_path)
    assert landing.rows["user_activity"] == 4  # without the two successful logins of login_history
    assert any("no SELECT on login_history.username, login_history.created_at, login_history.successful (only each "
               "user's last login counts as activity); carrying on" in r.getMessage() for r in caplog.records)


def test_errors_are_transient_by_their_sqlstate(postgres):
    postgres.create_database("unleash_sqlstates", *SCRIPTS["8"])
    url = reader(postgres, "unleash_sqlstates")
    with adbc.connect(url) as connection, connection.cursor() as cursor:
        for sql, transient in [("SELECT password_hash FROM users", False),  # 42501 permission denied
                               ("SELECT nope FROM events", False),  # 42703 undefined column
                               ("SELECT pg_sleep(1)", True)]:  # 57014 canceled by the statement timeout
            cursor.execute("SET statement_timeout = '100ms'")
            with pytest.raises(adbc_driver_manager.Error) as error:
                cursor.execute(sql)
                cursor.fetchall()
            assert is_transient(error.value) is transient, (sql, error.value.sqlstate)
            connection.rollback()


def test_the_documented_grants_are_exactly_what_the_queries_read():
    granted = set()
    for table_columns, table in _grants(READER_GRANTS):
        granted |= {(table, column) for column in table_columns}
    every = [q for qs in QUERIES.values() for q in qs] + [stand_in for stand_in, _ in STAND_INS.values()]
    assert granted == {column for query in every for column in reads(query)}


@pytest.mark.parametrize("version", list(SCRIPTS))
def test_each_query_reads_no_column_beyond_its_header(postgres, version, request):
    name = database_name(request)
    postgres.create_database(name, *SCRIPTS[version])
    every = [q for qs in QUERIES.values() for q in qs] + [s for s, _ in STAND_INS.values()]
    ran = []
    with psycopg.connect(postgres.url(name), autocommit=True) as connection:
        present = {row for row in connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")}
        for query in every:
            columns = reads(query)
            if not present.issuperset(columns):
                continue  # this schema runs the query's stand-in instead
            role = f"only_{query}"
            connection.execute(f"DROP ROLE IF EXISTS {role}")
            connection.execute(f"CREATE ROLE {role}")
            for table in {t for t, _ in columns}:
                listed = ", ".join(c for t, c in columns if t == table)
                connection.execute(f"GRANT SELECT ({listed}) ON {table} TO {role}")
            with connection.transaction():
                connection.execute(f"SET LOCAL ROLE {role}")
                connection.execute("SELECT set_config('insights.since', '0', true)" if query == "events" else
                                   "SELECT set_config('insights.since', '-infinity', true)")
                connection.execute(Path(__file__).parents[1].joinpath("sql", "unleash", f"{query}.sql").read_text())
            ran.append(query)
            connection.execute(f"DROP OWNED BY {role}")
            connection.execute(f"DROP ROLE {role}")
    assert ("projects" in ran) == (version == "8") and ("projects_never_archived" in ran)


def _grants(text: str):
    import re

    for columns, table in re.findall(r"GRANT SELECT \(([^)]*)\)\s+ON (\w+) TO", text):
        yield [c.strip() for c in columns.split(",")], table
