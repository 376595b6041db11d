"""The digest flow: this period's digest to every configured target (``pipeline.digest``).

Scheduled beside the daily run (``flows/serve.py``), weekly by default. A target it cannot reach
fails the flow run in one line, as it fails the command; a later run in the period sends only to
the targets that have not had the digest. With no target configured it says so and sends nothing.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from pipeline import digest


@flow(name="insights-digest", log_prints=True)
def insights_digest(data_dir: str = "data", period: str = "week") -> dict:
    """Send the digest of ``period`` (week, day or month) that has not reached every target yet."""
    try:
        return digest.send(Path(data_dir), period)
    except digest.NoDigest as reason:
        get_run_logger().warning("no digest sent: %s", reason)
        return {"period": None, "targets": {}, "skipped": str(reason)}
