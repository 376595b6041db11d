"""The server's Prometheus metrics: the pipeline's state, read at each scrape, and the requests served.

Run figures come from the newest run manifests (``runs/*.json``) of each command (``run``,
``backfill``, ``digest``); the digest's deliveries from its state (``pipeline.digest``); the mirror's
pushes from its record (``pipeline.mirror``); quarantined rows from the lake's landings; the covered days from the warehouse's
committed state. Times are Unix seconds (UTC); a day is its midnight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline import digest, manifest, mirror, trends
from pipeline.calendar import start_of_day
from pipeline.lake import Lake
from pipeline.server.held import Held
from pipeline.warehouse import Committed

COMMANDS = ("run", "backfill", "digest")


class PipelineCollector(Collector):
    """The pipeline's figures, read from the data directory at each scrape, and each project's
    figures from the state the server holds (``held``: None where none is loaded)."""

    def __init__(self, data_dir: Path, committed: Callable[[], Committed | None], held: Callable[[], Held | None]):
        self.data_dir = Path(data_dir)
        self.committed = committed
        self.held = held

    def collect(self) -> Iterator:
        status = GaugeMetricFamily("insights_last_run_success", "1 if the newest run of the command succeeded, 0 if it failed",
                                   labels=["command"])
        ended = GaugeMetricFamily("insights_last_run_end_timestamp_seconds", "When the newest run of the command ended",
                                  labels=["command"])
        took = GaugeMetricFamily("insights_last_run_duration_seconds", "How long the newest run of the command took",
                                 labels=["command"])
        succeeded = GaugeMetricFamily("insights_last_successful_run_end_timestamp_seconds",
                                      "When the newest successful run of the command ended", labels=["command"])
        partitions = GaugeMetricFamily("insights_last_run_partitions_built", "Partitions the newest run of the command built",
                                       labels=["command"])
        landed = GaugeMetricFamily("insights_last_run_rows_landed", "Rows the newest run landed, by entity", labels=["entity"])
        for command in COMMANDS:
            last, last_success = manifest.latest(self.data_dir, command)
            if last:
                status.add_metric([command], 1.0 if last["status"] == "succeeded" else 0.0)
                ended.add_metric([command], _seconds(last["finished_at"]))
                took.add_metric([command], _seconds(last["finished_at"]) - _seconds(last["started_at"]))
                partitions.add_metric([command], len(last["steps"].get("build", {}).get("partitions", {})))
                if command == "run":
                    for entity, rows in sorted(last["steps"].get("land", {}).get("rows", {}).items()):
                        landed.add_metric([entity], rows)
            if last_success:
                succeeded.add_metric([command], _seconds(last_success["finished_at"]))
        yield from (status, ended, took, succeeded, partitions, landed)

        quarantined = CounterMetricFamily("insights_quarantined_rows", "Source rows set aside as malformed, by entity",
                                          labels=["entity"])
        totals: dict[str, int] = {}
        for landing in Lake(self.data_dir).landings:
            for entity, reasons in landing.get("quarantined", {}).items():
                totals[entity] = totals.get(entity, 0) + sum(reasons.values())
        for entity, rows in sorted(totals.items()):
            quarantined.add_metric([entity], rows)
        yield quarantined

        committed = self.committed()
        days = GaugeMetricFamily("insights_warehouse_day_timestamp_seconds",
                                 "The first and last day the committed warehouse covers (midnight UTC)", labels=["end"])
        if committed and committed.first_day:
            days.add_metric(["first"], start_of_day(committed.first_day).timestamp())
            days.add_metric(["last"], start_of_day(committed.last_day).timestamp())
        yield days
        yield from digest_figures(self.data_dir)
        yield from mirror_figures(self.data_dir)
        yield from project_figures(self.held())


def digest_figures(data_dir: Path) -> Iterator[GaugeMetricFamily]:
    """The latest digest period's deliveries: targets that had it (sent) and targets its latest send
    could not reach (failed; alert on one), each target's outcome and when it was tried, and when
    the digest last reached a target."""
    targets = GaugeMetricFamily("insights_digest_targets", "Targets that had the latest period's digest (sent) "
                                "or that its latest send could not reach (failed)", labels=["status"])
    outcome = GaugeMetricFamily("insights_digest_target_success", "1 if the target had the latest period's digest, "
                                "0 if its latest send could not reach it", labels=["service", "target"])
    tried = GaugeMetricFamily("insights_digest_target_timestamp_seconds", "When the latest period's digest last "
                              "went to the target (delivered or failed)", labels=["service", "target"])
    sent_at = GaugeMetricFamily("insights_digest_last_sent_timestamp_seconds", "When a digest last reached a target")
    deliveries = digest.deliveries(data_dir)
    for status in ("sent", "failed"):
        targets.add_metric([status], sum(d["status"] == status for d in deliveries.values()))
    for target, d in sorted(deliveries.items()):
        outcome.add_metric([d["service"], target], 1.0 if d["status"] == "sent" else 0.0)
        tried.add_metric([d["service"], target], _seconds(d["at"]))
    sent = [_seconds(d["at"]) for d in deliveries.values() if d["status"] == "sent"]
    if sent:
        sent_at.add_metric([], max(sent))
    yield from (targets, outcome, tried, sent_at)


def mirror_figures(data_dir: Path) -> Iterator[GaugeMetricFamily]:
    """The latest push of the data directory to its mirror (``pipeline.mirror``): its outcome, when it
    was tried and what it uploaded; when a push last succeeded; and, while pushes fail, since when
    (alert on a day without a success)."""
    success = GaugeMetricFamily("insights_mirror_last_push_success",
                                "1 if the latest push to the mirror succeeded, 0 if it failed or was refused")
    tried = GaugeMetricFamily("insights_mirror_last_push_timestamp_seconds", "When the latest push to the mirror was tried")
    uploaded = GaugeMetricFamily("insights_mirror_last_push_files_uploaded", "Files the latest push to the mirror uploaded")
    succeeded = GaugeMetricFamily("insights_mirror_last_success_timestamp_seconds", "When a push to the mirror last succeeded")
    failing = GaugeMetricFamily("insights_mirror_failing_since_timestamp_seconds",
                                "When pushes to the mirror began failing (absent while the latest succeeded)")
    pushed = mirror.outcome(data_dir)
    if pushed:
        success.add_metric([], 1.0 if pushed["outcome"] == "succeeded" else 0.0)
        tried.add_metric([], _seconds(pushed["at"]))
        uploaded.add_metric([], pushed.get("files", 0))
        if pushed["succeeded_at"]:
            succeeded.add_metric([], _seconds(pushed["succeeded_at"]))
        if pushed["failing_since"]:
            failing.add_metric([], _seconds(pushed["failing_since"]))
    yield from (success, tried, uploaded, succeeded, failing)


def project_figures(held: Held | None) -> Iterator[GaugeMetricFamily]:
    """Per project: its technical debt, stale and potentially stale flags in the latest week the
    state holds, and its clean-up candidates by reason in the ``flags`` table (0 where none, so
    that a first candidate is a change, not a new series). A project makes 3 + 6 series: 4,500
    for 500 projects."""
    debt = GaugeMetricFamily("insights_project_technical_debt_percent",
                             "The project's technical debt in the latest week (percent of its flags)", labels=["project"])
    stale = GaugeMetricFamily("insights_project_stale_flags", "The project's stale flags in the latest week",
                              labels=["project"])
    potentially = GaugeMetricFamily("insights_project_potentially_stale_flags",
                                    "The project's potentially stale flags in the latest week", labels=["project"])
    candidates = GaugeMetricFamily("insights_project_cleanup_candidates",
                                   "The project's flags to clean up in the flags table, by reason",
                                   labels=["project", "reason"])
    projects: set[str] = set()
    if held is not None and held.projects is not None:
        for row in held.projects.select(["project", "technical_debt", "stale", "potentially_stale"]).to_pylist():
            projects.add(row["project"])
            debt.add_metric([row["project"]], row["technical_debt"])
            stale.add_metric([row["project"]], row["stale"])
            potentially.add_metric([row["project"]], row["potentially_stale"])
    counted: dict[tuple[str, str], int] = {}
    if held is not None and held.flags is not None:
        for row in held.flags.select(["project", "cleanup_reason"]).to_pylist():
            if row["cleanup_reason"] is not None:
                counted[row["project"], row["cleanup_reason"]] = counted.get((row["project"], row["cleanup_reason"]), 0) + 1
                projects.add(row["project"])
    for project in sorted(projects):
        for reason in trends.CLEANUP_REASONS:
            candidates.add_metric([project, reason], counted.get((project, reason), 0))
    yield from (debt, stale, potentially, candidates)


class RequestMetrics:
    """Requests and their latency, by route and status, in the server's own registry."""

    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter("insights_http_requests", "Requests answered", ["route", "status"], registry=registry)
        self.latency = Histogram("insights_http_request_duration_seconds", "Seconds to answer a request",
                                 ["route", "status"], registry=registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10))

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route, str(status)).observe(seconds)


def _seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()
