"""The schedules: the run flow daily and the digest flow weekly (by default), cron in UTC, served
by this process.

Needs a Prefect server (``prefect server start``; PREFECT_API_URL pointing at it): the temporary
server Prefect starts on its own cannot hold schedules.
"""

from __future__ import annotations

from prefect.schedules import Cron

from flows.digest import insights_digest
from flows.run import insights_run
from pipeline.digest import PERIODS

DAILY = "30 0 * * *"
"""Half past midnight UTC: each run builds the day that just ended."""


def daily_deployment(cron: str = DAILY, data_dir: str = "data", mirror: str | None = None):
    """The ``insights-run/daily`` deployment: no source parameter (it comes from INSIGHTS_SOURCE); the
    mirror's URL as a parameter where one is given (else the run reads INSIGHTS_MIRROR)."""
    return insights_run.to_deployment(
        name="daily",
        schedules=[Cron(cron, timezone="UTC")],
        parameters={"data_dir": data_dir, **({"mirror": mirror} if mirror else {})},
        description="Land Unleash's raw data, build the insights warehouse, write the month's document.",
    )


def digest_deployment(period: str = "week", data_dir: str = "data"):
    """The ``insights-digest/<period>ly`` deployment: the period's digest, sent when it begins (``PERIODS``)."""
    return insights_digest.to_deployment(
        name=f"{period}ly".replace("dayly", "daily"),
        schedules=[Cron(PERIODS[period], timezone="UTC")],
        parameters={"data_dir": data_dir, "period": period},
        description="Tell the team what changed: debt per project, new clean-up candidates, unknown flags.",
    )


def prefect_server_problem() -> str | None:
    """Why this process cannot serve a schedule, in one line, or None: PREFECT_API_URL must name a
    Prefect server that answers (the temporary server Prefect would otherwise start dies with this
    process, and its schedules with it)."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    start = "start one with `prefect server start`, then export PREFECT_API_URL=http://127.0.0.1:4200/api"
    url = PREFECT_API_URL.value()
    if not url:
        return f"insights serve needs a Prefect server to keep its schedule, and PREFECT_API_URL names none: {start}"
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        return f"no Prefect server answers at PREFECT_API_URL={url} ({type(error).__name__}): {start}"
    return None


def serve(cron: str = DAILY, data_dir: str = "data", digest: str | None = "week", mirror: str | None = None) -> None:
    """Register the daily deployment and the digest's (``digest``: its period; None: none), and run
    their scheduled flow runs until stopped."""
    from prefect import serve as serve_deployments

    deployments = [daily_deployment(cron, data_dir, mirror)]
    if digest is not None:
        deployments.append(digest_deployment(digest, data_dir))
    serve_deployments(*deployments)
