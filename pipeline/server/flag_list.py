"""The ``flags`` table for scripts (``GET /api/insights/flags``): its rows as a run stored them, chosen
by project, clean-up reason or candidacy, as JSON or CSV.

Grain: one row per flag incarnation, as of the table's day (``as_of``); columns and values are the
dataset's (docs/data-dictionary.md). JSON writes each row as an object of those columns (days
``YYYY-MM-DD``, instants ISO 8601 in UTC, ``enabled_environments`` a list); CSV writes them in
the dataset's column order, a header first, empty for null, the environments joined by commas.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class FlagQuery:
    """Which rows: of the listed projects (none: all), with the listed reasons (none: any, null
    included), and only those with a reason (``candidates``)."""

    projects: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    candidates: bool = False

    def chosen(self, flags: pa.Table) -> pa.Table:
        keep = pc.is_valid(flags["cleanup_reason"]) if self.candidates else pa.repeat(True, flags.num_rows)
        if self.projects:
            keep = pc.and_(keep, pc.is_in(flags["project"], value_set=pa.array(self.projects, pa.string())))
        if self.reasons:
            keep = pc.and_(keep, pc.fill_null(pc.is_in(flags["cleanup_reason"],
                                                       value_set=pa.array(self.reasons, pa.string())), False))
        return flags.filter(keep)


def as_of(flags: pa.Table) -> str | None:
    """The day the table is as of, ``YYYY-MM-DD`` (None for a table with no row)."""
    return flags["as_of"][0].as_py().isoformat() if flags.num_rows else None


def rendered(flags: pa.Table, form: str, day: str | None) -> bytes:
    """The rows in a format of ``FORMATS``: JSON ``{"asOf": day, "flags": [...]}``, or CSV."""
    if form == "json":
        return orjson.dumps({"asOf": day, "flags": flags.to_pylist()})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(flags.column_names)
    for row in flags.to_pylist():
        writer.writerow([_cell(value) for value in row.values()])
    return out.getvalue().encode()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(value)
    return str(value)
