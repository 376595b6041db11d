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

import fastjsonschema
import jsonschema
import pyarrow as pa
import yaml
from rfc3339_validator import validate_rfc3339
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pipeline import files
from pipeline.calendar import UTC
from pipeline.trends import TRENDS

SCHEMA_URI = "urn:unleash:instance-insights"
SORT_FIELDS = ("date", "week", "project", "environmentType")
"""Arrays are sorted by these fields, where a trend has them."""


class InvalidDocument(ValueError):
    """A document that does not meet the schema: the message lists every fault with its path."""


def assemble(tables: dict[str, pa.Table]) -> dict[str, list[dict[str, Any]]]:
    """The document from one table per trend (warehouse columns), arrays sorted as Unleash would."""
    document = {}
    for trend in TRENDS.values():
        table = tables[trend.name]
        keys = [trend.fields[f] for f in SORT_FIELDS if f in trend.fields]
        table = table.sort_by([(k, "ascending") for k in keys]) if table.num_rows else table
        columns = [_column(table[column].to_pylist()) for column in trend.fields.values()]
        document[trend.array] = [dict(zip(trend.fields, values)) for values in zip(*columns)]
    return document


def validate(document: dict) -> None:
    """Raise ``InvalidDocument`` unless the document meets ``instanceInsightsSchema``, formats included.

    A validator compiled from the schema checks the document; only a document it rejects is
    checked again, slowly, to list every fault with its path.
    """
    try:
        _fast_validator()(document)
    except fastjsonschema.JsonSchemaException:
        faults = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
        listed = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}" for e in faults[:5])
        more = f" (and {len(faults) - 5} more)" if len(faults) > 5 else ""
        raise InvalidDocument(f"the insights document does not meet instanceInsightsSchema: {listed}{more}") from None


def write(data_dir: Path, target: Path, document: dict) -> None:
    """Validate the document, then write it atomically as canonical JSON."""
    validate(document)
    files.write_json(data_dir, target, document)


def text(document: dict) -> str:
    """The document as the canonical JSON ``write`` produces, after validating it."""
    validate(document)
    return files.json_text(document)


@cache
def _openapi() -> dict:
    return yaml.safe_load(resources.files("pipeline").joinpath("instance-insights-openapi.yaml").read_text("utf-8"))


@cache
def _fast_validator():
    schema = {"$ref": "#/components/schemas/instanceInsightsSchema", "components": _openapi()["components"]}
    return fastjsonschema.compile(schema, formats={"date-time": validate_rfc3339, "double": lambda _: True})


@cache
def _validator() -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource(SCHEMA_URI, Resource(contents=_openapi(), specification=DRAFT202012))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SCHEMA_URI}#/components/schemas/instanceInsightsSchema"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _column(values: list) -> list:
    """A warehouse column as JSON writes it: instants at ms precision with Z, whole floats as integers."""
    if not values:
        return values
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, dt.datetime):
        text = {v: v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z" for v in set(values)}
        return [text[v] for v in values]
    if isinstance(sample, float):
        return [int(v) if v.is_integer() else v for v in values]
    if isinstance(sample, list):
        return [dict(v) for v in values]
    return values
