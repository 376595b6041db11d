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
