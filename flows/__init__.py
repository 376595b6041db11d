"""Prefect flows over the pipeline library: the daily run, the backfill and the schedule. Nothing else.

Importing the package sends the library's logs (logger ``pipeline``, from INFO up) to the flow
and task runs' logs, also where no command line set that up (a served deployment, a worker).
"""

import logging
import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # library calls outside a flow run
if logging.getLogger("pipeline").level == logging.NOTSET:
    logging.getLogger("pipeline").setLevel(logging.INFO)
