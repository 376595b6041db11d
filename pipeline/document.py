"""The insights JSON document: assembled from trend tables, validated, written.

The document is what ``GET /api/admin/insights?from=&to=`` returns: the daily rows of every day
in the range and the weekly rows of every ISO week overlapping it. It is validated, with formats
checked, against the project's copy of Unleash's ``instanceInsightsSchema``
(``instance-insights-openapi.yaml`` beside this module) before anything is written: an invalid
document is an error, never a file.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pipeline import files
from pipeline.calendar import UTC
from pipeline.trends import TRENDS

SCHEMA_URI = "urn:unleash:instance-insights"
SORT_FIELDS = ("date", "week", "project", "environmentType")


class InvalidDocument(ValueError):
    """A document that does not meet the schema: the message lists every fault with its path."""


def assemble(tables: dict[str, pa.Table]) -> dict[str, list[dict[str, Any]]]:
    """The document from one table per trend (warehouse columns), arrays sorted as Unleash would."""
    document = {}
    for trend in TRENDS.values():
        rows = [_row(trend.fields, row) for row in tables[trend.name].to_pylist()]
        rows.sort(key=lambda r: tuple(str(r.get(f, "")) for f in SORT_FIELDS))
        document[trend.array] = rows
    return document


def validate(document: dict) -> None:
    """Raise ``InvalidDocument`` unless the document meets ``instanceInsightsSchema``, formats included."""
    faults = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if faults:
        listed = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}" for e in faults[:5])
        more = f" (and {len(faults) - 5} more)" if len(faults) > 5 else ""
        raise InvalidDocument(f"the insights document does not meet instanceInsightsSchema: {listed}{more}")


def write(data_dir: Path, target: Path, document: dict) -> None:
    """Validate the document, then write it atomically as canonical JSON."""
    validate(document)
    files.write_json(data_dir, target, document)


def text(document: dict) -> str:
    """The document as the canonical JSON ``write`` produces, after validating it."""
    validate(document)
    return files.json_text(document)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    openapi = yaml.safe_load(resources.files("pipeline").joinpath("instance-insights-openapi.yaml").read_text("utf-8"))
    registry = Registry().with_resource(SCHEMA_URI, Resource(contents=openapi, specification=DRAFT202012))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SCHEMA_URI}#/components/schemas/instanceInsightsSchema"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _row(fields: dict[str, str], row: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(row[column]) for name, column in fields.items()}


def _value(value: Any) -> Any:
    """A warehouse value as JSON writes it: instants at ms precision with Z, whole floats as integers."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return {k: _value(v) for k, v in value}
    return value
