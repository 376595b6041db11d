"""Rules that set malformed source rows aside instead of landing them, each with its reason.

A row a rule matches goes to ``lake/_quarantine/<entity>/g<generation>.parquet`` (its reason and
the row as JSON) and is counted in the landing and the run manifest; the rest of the run goes on.
Everything else odd is handled by a rule of the spec where the data is used: unknown event types
change no state, unknown environments count as environments, duplicate event ids land once.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pyarrow as pa

from pipeline.calendar import UTC

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=UTC)
"""Nothing in an Unleash database happened before this (Unleash dates from 2014)."""
FUTURE_TOLERANCE = dt.timedelta(days=1)
"""How far after the extraction an instant may lie (clock skew) before it is out of range."""

SCHEMA = pa.schema([("reason", pa.string()), ("row", pa.string())])

UNKNOWN_FLAG = "unknown flag"
"""The reason of metrics of a flag name the lake does not know: Unleash keeps no metrics of one
either; ``sql/flags/unknown_flags.sql`` reads them back."""

FLAG_EVENTS_WITHOUT_FLAG = ("feature-type-updated", "features-imported", "features-exported")


def _null(*columns: str) -> tuple[str, pl.Expr]:
    return f"null {' or '.join(columns)}", pl.any_horizontal([pl.col(c).is_null() for c in columns])


def _out_of_range(column: str, latest: dt.datetime) -> tuple[str, pl.Expr]:
    value = pl.col(column)
    if column == "date":
        return f"{column} out of range", (value < EARLIEST.date()) | (value > latest.date())
    return f"{column} out of range", (value < EARLIEST) | (value > latest)


def rules(entity: str, extracted_at: dt.datetime, known_flags: pl.Series | None = None) -> list[tuple[str, pl.Expr]]:
    """The (reason, matches-a-bad-row) rules of an entity, in the order they are tried."""
    latest = extracted_at + FUTURE_TOLERANCE
    counts = [("negative count", (pl.col("yes") < 0) | (pl.col("no") < 0))]
    unknown = [(UNKNOWN_FLAG, ~pl.col("feature_name").is_in(known_flags.implode()))] if known_flags is not None else []
    return {
        "events": [
            _null("id", "created_at", "type"),
            _out_of_range("created_at", latest),
            ("flag event without a flag name",
             pl.col("type").str.starts_with("feature-") & ~pl.col("type").is_in(FLAG_EVENTS_WITHOUT_FLAG)
             & pl.col("feature_name").is_null()),
        ],
        "features": [_null("name", "created_at"), _out_of_range("created_at", latest),
                     ("flag without a project", pl.col("project").is_null())],
        "feature_types": [_null("id")],
        "feature_environments": [_null("feature_name", "environment")],
        "environments": [_null("name", "type")],
        "projects": [_null("id", "created_at"), _out_of_range("created_at", latest)],
        "users": [_null("id", "created_at"), _out_of_range("created_at", latest)],
        "user_activity": [_null("user_id", "seen_at"), _out_of_range("seen_at", latest)],
        "project_members": [_null("project", "user_id")],
        "feature_lifecycles": [_null("feature", "stage", "created_at"), _out_of_range("created_at", latest)],
        "client_metrics": [_null("feature_name", "app_name", "environment", "timestamp"),
                           _out_of_range("timestamp", latest), *counts, *unknown],
        "client_metrics_daily": [_null("feature_name", "app_name", "environment", "date"),
                                 _out_of_range("date", latest), *counts, *unknown],
    }[entity]


def split(frame: pl.DataFrame, entity_rules: list[tuple[str, pl.Expr]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows no rule matches, and the others as (reason, row JSON) of the first rule each matches."""
    if not entity_rules or frame.height == 0:
        return frame, pl.DataFrame(schema={"reason": pl.String, "row": pl.String})
    reason = pl.lit(None, dtype=pl.String)
    for name, matches in reversed(entity_rules):
        reason = pl.when(matches.fill_null(False)).then(pl.lit(name)).otherwise(reason)
    marked = frame.with_columns(reason.alias("_reason"))
    good = marked.filter(pl.col("_reason").is_null()).drop("_reason")
    bad = marked.filter(pl.col("_reason").is_not_null())
    rows = [_json(row) for row in bad.drop("_reason").to_dicts()]
    return good, pl.DataFrame({"reason": bad["_reason"], "row": pl.Series(rows, dtype=pl.String)})


def _json(row: dict) -> str:
    return json.dumps(row, default=str, ensure_ascii=False, sort_keys=True)
