"""Prefect flows over the pipeline library: the daily run, the backfill and the schedule. Nothing else.

Importing the package, before Prefect itself, sets Prefect's defaults for this product (each one
only where the environment has not set it):

* the library's logs (logger ``pipeline``, from INFO up) reach the flow and task runs' logs, also
  where no command line set that up (a served deployment, a worker);
* no usage analytics: neither a temporary server's nor, since Prefect 3.9, the client's own
  (``DO_NOT_TRACK``, which Prefect's notice names as the client's opt-out; it also cost a flow run
  of this command line about half a second, reading settings and sending at start and exit). A
  user who wants to send them sets ``DO_NOT_TRACK=0``;
* a temporary server may take 90 s to answer instead of Prefect's 20. With a fresh
  ``PREFECT_HOME`` it creates its database first, and the flow began 15 s after the server started
  on an idle 2-core machine, so Prefect's default failed runs on a busy one.
"""

import logging
import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # library calls outside a flow run
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
if logging.getLogger("pipeline").level == logging.NOTSET:
    logging.getLogger("pipeline").setLevel(logging.INFO)


class _WithoutTraceback(logging.Formatter):
    """Another formatter's lines without the traceback a record carries: failures stay one line."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return self.inner.format(record)
        plain = logging.makeLogRecord(record.__dict__)  # other handlers (Prefect's API logs) keep the traceback
        plain.exc_info = plain.exc_text = plain.stack_info = None
        return self.inner.format(plain)


def _not_a_run_failure(record: logging.LogRecord) -> bool:
    """False for a flow or task run's failure, which the command that ran it says once (a retry, which
    the command does not say, is kept)."""
    if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
        return True
    message = record.getMessage()
    if message.startswith("Finished in state Failed"):
        return False
    return record.levelno < logging.ERROR or "Retry " in message


def _no_dead_link(record: logging.LogRecord) -> bool:
    """False for a "View at" link to a temporary Prefect server, which stops when the command ends."""
    return not record.getMessage().startswith("View at ")


def terminal_without_tracebacks(failures: bool = True, links: bool = True) -> None:
    """Prefect's terminal log lines without tracebacks: a failed task or flow run is one line there,
    and the traceback stays in the run's logs that the Prefect server keeps (and on ``--debug``).
    ``failures`` False: not even that line, for a command that says its run's failure itself;
    ``links`` False: no link to the flow run (its server is a temporary one)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict))]
    for handler in {h for logger in loggers for h in logger.handlers if isinstance(h, PrefectConsoleHandler)}:
        if not isinstance(handler.formatter, _WithoutTraceback):
            handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
        for wanted, kept in ((failures, _not_a_run_failure), (links, _no_dead_link)):
            if not wanted and kept not in handler.filters:
                handler.addFilter(kept)
