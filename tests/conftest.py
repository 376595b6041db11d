"""Test settings: a machine time zone that is not UTC, and Prefect kept apart from the user's."""

import os
import tempfile
import time

# The pipeline must never depend on the machine's zone: run every test under one far from UTC.
os.environ["TZ"] = "Asia/Tokyo"
time.tzset()

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="insights-prefect-home-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] = "pipeline"  # as the command line sets it
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster; skipped only where PostgreSQL is truly absent, never in CI."""
    from tests import postgres_server

    if postgres_server.binaries() is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server.cluster() as cluster:
        yield cluster


@pytest.fixture
def connection_attempts(monkeypatch):
    """Each attempt to connect to a PostgreSQL source, counted as it is made."""
    import adbc_driver_postgresql.dbapi as adbc

    attempts: list[str] = []
    connect = adbc.connect
    monkeypatch.setattr(adbc, "connect", lambda *a, **k: attempts.append(a[0] if a else "") or connect(*a, **k))
    return attempts


@pytest.fixture(scope="session")
def prefect():
    """One temporary Prefect server for every flow test of the session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        # worker processes (a local Dask cluster) inherit the environment, not Prefect's settings
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()
        try:
            yield
        finally:
            os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] = "pipeline"  # as the command line sets it
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"
