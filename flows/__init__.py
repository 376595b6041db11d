"""Prefect flows over the pipeline library: the daily run, the backfill and the schedule. Nothing else.

Importing the package, before Prefect itself, sets Prefect's defaults for this product (each one
only where the environment has not set it):

* the library's logs (logger ``pipeline``, from INFO up) reach the flow and task runs' logs, also
  where no command line set that up (a served deployment, a worker);
* a temporary server sends no usage analytics;
* a temporary server may take 90 s to answer instead of Prefect's 20. With a fresh
  ``PREFECT_HOME`` it creates its database first, and the flow began 15 s after the server started
  on an idle 2-core machine, so Prefect's default failed runs on a busy one.
"""

import logging
import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # library calls outside a flow run
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
if logging.getLogger("pipeline").level == logging.NOTSET:
    logging.getLogger("pipeline").setLevel(logging.INFO)
