"""Data-quality checks on computed partitions, before they are swapped into the warehouse.

Each check is a query in ``sql/checks/`` that returns the offending rows of the trend tables it
reads (registered under their dataset names); its first line says its severity. An ``error``
that finds rows blocks the write: the partitions stay as they were and the run fails, naming the
check and its first offending row. A ``warn`` is recorded and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa

from pipeline import duck, queries
from pipeline.warehouse import SCHEMAS

log = logging.getLogger(__name__)


class QualityCheckFailed(RuntimeError):
    """An error-level check found offending rows in partitions about to be written."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    severity: str
    offending: int
    first: dict | None


INPUTS = {
    "week_project_usage": pa.schema([("week", pa.string()), ("project", pa.string()), ("yes", pa.int64()),
                                     ("no", pa.int64())]),
    "built_usage_days": pa.schema([("day", pa.date32())]),
}
"""What the checks read besides the datasets: the usage built, by week and project, and its days."""


def run(tables: dict[str, pa.Table]) -> list[CheckResult]:
    """Every check over the given tables (one per dataset name, and the ``INPUTS``; a missing one is
    empty), in name order."""
    con = duck.connect()
    try:
        for name, schema in {**SCHEMAS, **INPUTS}.items():
            con.register(name, tables.get(name, schema.empty_table()))
        results = []
        for check in queries.names("checks"):
            text = queries.load(check)
            severity = text.splitlines()[0].removeprefix("-- severity:").strip()
            offending = con.sql(text).to_arrow_table()
            first = offending.slice(0, 1).to_pylist()[0] if offending.num_rows else None
            results.append(CheckResult(check.removeprefix("checks/"), severity, offending.num_rows, first))
        return results
    finally:
        con.close()


def enforce(results: list[CheckResult]) -> dict[str, int]:
    """Raise ``QualityCheckFailed`` on a failed error-level check; returns offending rows per check
    (the sum over its results, where a check ran on several parts of a build)."""
    offending: dict[str, int] = {}
    for result in results:
        offending[result.name] = offending.get(result.name, 0) + result.offending
        if result.offending and result.severity != "error":
            log.warning("check %s: %d offending rows, e.g. %s", result.name, result.offending, result.first)
    failed = [r for r in results if r.offending and r.severity == "error"]
    if failed:
        listed = "; ".join(f"{r.name} ({r.offending} rows, e.g. {r.first})" for r in failed)
        raise QualityCheckFailed(f"data-quality checks failed, nothing was written: {listed}")
    return offending
