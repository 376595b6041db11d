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


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory):
    """The sample instance, landed and built through 2026-01-31 as a daily run builds it (read it only)."""
    import datetime as dt

    from pipeline import job
    from pipeline.sources.sample import SampleSource

    data_dir = tmp_path_factory.mktemp("sample-warehouse")
    day = dt.date(2026, 1, 31)
    job.land(data_dir, SampleSource(day))
    job.build(data_dir, job.plan_run(data_dir, day))
    return data_dir


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium for the browser tests (scripts/test installs it as root); skipped loudly only
    where it is truly absent, and never in CI. Module-scoped: Playwright's event loop must not outlive
    the browser tests (Prefect would take the tests after them for async code)."""
    import shutil

    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        message = "Chromium is not installed (apt-get install chromium): the browser tests cannot run"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-default-apps"])
        try:
            yield browser
        finally:
            browser.close()


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
