"""The insights JSON document: assembled from each trend's rows, validated, written.

The document is what ``GET /api/admin/insights?from=&to=`` returns: the daily rows of every day
in the range and the weekly rows of every ISO week overlapping it. It is validated, with formats
checked, against Unleash's ``instanceInsightsSchema`` as the server's contract
(``openapi.yaml`` beside this module) holds it, before anything is written or served: an invalid
document is an error, never a file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import jsonschema_rs
import orjson
import yaml

from pipeline import files
from pipeline.trends import TRENDS, Trend

SORT_FIELDS = ("date", "week", "project", "environmentType")
"""Arrays are sorted by these fields, where a trend has them."""


class InvalidDocument(ValueError):
    """A document that does not meet the schema: the message lists every fault with its path."""


def assemble(rows: dict[str, duckdb.DuckDBPyRelation]) -> dict[str, list[dict[str, Any]]]:
    """The document from each trend's rows (a relation of warehouse columns, by trend name), arrays
    sorted as Unleash would.

    DuckDB writes each row as a JSON object straight from the files, which Python parses: a hundred
    thousand rows in a fraction of the time building them value by value takes. Instants are
    written at millisecond precision with ``Z``; whole floats as integers.
    """
    document = {}
    for trend in TRENDS.values():
        relation = rows[trend.name]
        objects = relation.query("trend_rows", objects_query(trend, relation)).fetchall()
        document[trend.array] = orjson.loads("[" + ",".join(text for text, in objects) + "]")
    return document


def objects_query(trend: Trend, relation: duckdb.DuckDBPyRelation, beside: tuple[str, ...] = ()) -> str:
    """The query that writes each of a trend's rows (``trend_rows``) as its JSON object, in the array's
    order; the columns named in ``beside`` follow the object, as they are."""
    kinds = {column: kind.id for column, kind in zip(relation.columns, relation.types)}
    values = []
    for field, column in trend.fields.items():
        kind, name = kinds[column], f'"{column}"'
        if kind.startswith("timestamp"):
            value = f"strftime({name}, '%Y-%m-%dT%H:%M:%S.%gZ')"
        elif kind in ("double", "float"):
            value = f"CASE WHEN {name} = trunc({name}) THEN to_json({name}::BIGINT) ELSE to_json({name}) END"
        else:
            value = name
        values.append(f"'{field}': {value}")
    order = ", ".join(f'"{trend.fields[f]}"' for f in SORT_FIELDS if f in trend.fields)
    columns = "".join(f', "{column}"' for column in beside)
    return f"SELECT to_json({{{', '.join(values)}}})::VARCHAR{columns} FROM trend_rows ORDER BY {order}"


def validate(document: dict, schema: str = "instanceInsightsSchema") -> None:
    """Raise ``InvalidDocument`` unless the document meets a schema of the contract, formats included."""
    validator = _validator(schema)
    if validator.is_valid(document):
        return
    faults = sorted(validator.iter_errors(document), key=lambda e: [(isinstance(p, str), p) for p in e.instance_path])
    listed = "; ".join(f"{'/'.join(map(str, e.instance_path)) or '(document)'}: {e.message}" for e in faults[:5])
    more = f" (and {len(faults) - 5} more)" if len(faults) > 5 else ""
    raise InvalidDocument(f"the document does not meet {schema}: {listed}{more}")


def write(data_dir: Path, target: Path, document: dict) -> None:
    """Validate the document, then write it atomically as canonical JSON."""
    validate(document)
    files.write_json(data_dir, target, document)


def text(document: dict) -> str:
    """The document as the canonical JSON ``write`` produces, after validating it."""
    validate(document)
    return files.json_text(document)


def contract_text() -> str:
    """The server's OpenAPI contract, as the file beside this module holds it."""
    return resources.files("pipeline").joinpath("openapi.yaml").read_text("utf-8")


@cache
def contract() -> dict:
    """The server's OpenAPI contract, parsed."""
    return yaml.load(contract_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 10 times faster


@cache
def _validator(schema: str) -> jsonschema_rs.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{schema}", "components": contract()["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)
