"""The dashboard (SPEC §8): one page that draws an insights document, written as a file or served.

The page is ``page.html.j2`` with ``dashboard.js`` and ``dashboard.css``; ``dashboard.js`` draws it
with Vega-Lite, whose scripts (Vega, Vega-Lite, vega-embed) come inside the ``vl-convert-python``
wheel, so nothing is ever fetched from elsewhere. The *file* holds everything: the scripts, the
document of its range and the lifecycle figures (all projects together and each alone), gzipped
into the page; it opens from disk. The *served* page holds only its provenance and fetches the
rest from the insights server's own routes.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import orjson
import pyarrow.parquet as pq
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from pipeline import calendar, files, job, trends
from pipeline.lake import Lake
from pipeline.warehouse import Committed, Warehouse, code_version, flags_partition


def range_page(data_dir: Path, first: dt.date, last: dt.date, document: dict | None = None) -> str:
    """The self-contained page of ``first``..``last``; ``document`` is the range's insights document
    where the caller has it already (else it is exported). Lifecycle figures are as of the end of
    ``last``, or of the warehouse's last day if that comes first."""
    document = document if document is not None else job.export(data_dir, first, last)
    committed = job.committed_now(data_dir)
    moment = min(last, committed.last_day or last)
    lifecycle = trends.lifecycle_by_project(Lake(data_dir), moment) if committed.last_day else {}
    return file_page(data_dir, first, last, document, committed, lifecycle)


def write_file(data_dir: Path, target: Path, page: str) -> None:
    """Write a page atomically."""
    files.write_atomically(data_dir, target, lambda path: path.write_text(page, encoding="utf-8"))


def file_page(data_dir: Path, first: dt.date, last: dt.date, document: dict, committed: Committed,
              lifecycle: dict[str | None, dict]) -> str:
    """The self-contained page of ``document`` (the insights of ``first``..``last``), with the
    lifecycle figures of all projects (key None) and of each project."""
    covered_first = min((r["date"][:10] for r in document["userTrends"]), default=None)
    covered_last = max((r["date"][:10] for r in document["userTrends"]), default=None)
    meta = {**provenance(data_dir, committed), "rangeFixed": True, "firstDay": covered_first or first.isoformat(),
            "lastDay": covered_last or last.isoformat(), "askedFirst": first.isoformat(), "askedLast": last.isoformat()}
    packed = {"document": {array: _columns(rows) for array, rows in document.items()},
              "lifecycle": {("" if project is None else project): figures for project, figures in lifecycle.items()},
              "cleanup": cleanup_candidates(data_dir)}
    blob = base64.b64encode(gzip.compress(orjson.dumps(packed), compresslevel=9, mtime=0)).decode("ascii")
    return _render("page.html.j2", meta=meta, data=blob, vega=Markup(vega_script()))


def served_page(data_dir: Path, committed: Committed, today: dt.date) -> str:
    """The page the server answers ``/`` with: its provenance; the data comes from the server's routes."""
    default_first, default_last = calendar.default_range(today)
    meta = {**provenance(data_dir, committed), "rangeFixed": False, "cleanup": cleanup_candidates(data_dir),
            "firstDay": committed.first_day.isoformat() if committed.first_day else None,
            "lastDay": committed.last_day.isoformat() if committed.last_day else None,
            "defaultFrom": default_first.isoformat(), "defaultTo": default_last.isoformat()}
    return _render("page.html.j2", meta=meta, data=None)


def signin_page(error: str | None = None) -> str:
    """The served page's sign-in form."""
    return _render("signin.html.j2", error=error)


def cleanup_candidates(data_dir: Path) -> dict:
    """The flags to clean up, from the warehouse's ``flags`` table: its day, and one row a flag that
    exists and has a ``cleanup_reason`` (age in whole days at the end of that day), with the link to
    its page in Unleash where the instance's URL is set (``trends.unleash_url``); and the unknown
    flags of the same day (``unknown``, from ``unknown_flags``)."""
    warehouse = Warehouse(data_dir)
    path = warehouse.path("flags", flags_partition(dt.date.min))
    if not path.exists():
        return {"asOf": None, "rows": [], "unknown": []}
    unknown_path = warehouse.path("unknown_flags", flags_partition(dt.date.min))
    unknown = pq.read_table(unknown_path).to_pylist() if unknown_path.exists() else []
    table = pq.read_table(path, columns=["as_of", "flag", "project", "type", "created_at", "cleanup_reason",
                                         "last_evaluated_day", "evaluations_30d"]).to_pylist()
    rows = [r for r in table if r["cleanup_reason"]]
    as_of = table[0]["as_of"] if table else None
    moment = calendar.end_of_day(as_of) if as_of else None
    unleash = trends.unleash_url()
    return {"asOf": as_of.isoformat() if as_of else None, "rows": [
        {"flag": r["flag"], "project": r["project"], "type": r["type"], "reason": r["cleanup_reason"],
         "age": (moment - r["created_at"]).days,
         "lastEvaluated": r["last_evaluated_day"].isoformat() if r["last_evaluated_day"] else None,
         "evaluations30d": r["evaluations_30d"],
         **({"link": f"{unleash}/projects/{quote(r['project'], safe='')}/features/{quote(r['flag'], safe='')}"}
            if unleash else {})} for r in rows],
        "unknown": [{"flag": r["flag"], "status": r["status"].replace("_", " "),
                     "firstEvaluated": r["first_evaluated_day"].isoformat(),
                     "lastEvaluated": r["last_evaluated_day"].isoformat(), "evaluations7d": r["evaluations_7d"],
                     "evaluations30d": r["evaluations_30d"], "apps": " ".join(r["apps"])} for r in unknown]}


def provenance(data_dir: Path, committed: Committed) -> dict:
    """What the page says it shows, in the words a person needs first: when its data was landed (the
    landing's own time), from which source, the days the warehouse covers, what it was extracted up
    to; then (``behind``) the identifiers of the lake, build and commit behind it."""
    lake = Lake(data_dir)
    landing = lake.landings[-1] if lake.landings else None
    build = f"build-g{lake.generation}-{code_version()}"
    landed = lake.landed_at
    if landing:
        holds = (f"covering {committed.first_day} to {committed.last_day}" if committed.last_day
                 else "not built into any day yet")
        line = (f"Landed {_minute(landed)} UTC from {landing['source']}, {holds} (extracted up to "
                f"{_minute(landing['extracted_at'])} UTC).")
        behind = f"Lake generation {lake.generation}, {build}, warehouse commit {committed.version}."
    else:
        line, behind = "Nothing has been landed yet.", ""
    return {"provenance": line, "behind": behind, "source": landing["source"] if landing else None,
            "landedAt": landed,
            "extractedAt": landing["extracted_at"] if landing else None, "build": build, "commit": committed.version}


def _minute(instant: str) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(calendar.UTC).strftime("%Y-%m-%d %H:%M")


@cache
def vega_script() -> str:
    """Vega, Vega-Lite and vega-embed as one script (about 900 kB), from the vl-convert wheel."""
    import vl_convert

    return vl_convert.javascript_bundle()


@cache
def _environment() -> Environment:
    return Environment(autoescape=select_autoescape(default=True), keep_trailing_newline=True)


@cache
def _asset(name: str) -> str:
    return resources.files("pipeline.dashboard").joinpath(name).read_text(encoding="utf-8")


def _render(template: str, **values) -> str:
    meta = values.get("meta")
    return _environment().from_string(_asset(template)).render(
        css=Markup(_asset("dashboard.css")), script=Markup(_asset("dashboard.js")),
        meta_json=Markup(orjson.dumps(meta).decode().replace("<", "\\u003c")) if meta is not None else None, **values)


def _columns(rows: list[dict]) -> dict:
    """Rows as columns (field names, then one list of values a field): smaller, and it gzips far better."""
    fields = list(rows[0]) if rows else []
    return {"fields": fields, "values": [[row[f] for row in rows] for f in fields]}

