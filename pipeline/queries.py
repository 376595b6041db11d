"""The project's SQL: one DuckDB query per file under ``sql/``, loaded by name."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of ``sql/<name>.sql`` (``name`` may hold a folder: ``"trends/user_trends"``)."""
    return resources.files("sql").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def names(folder: str = "") -> list[str]:
    """The names of every query in ``sql/`` (or one of its folders), sorted."""
    root = resources.files("sql").joinpath(folder) if folder else resources.files("sql")
    prefix = f"{folder}/" if folder else ""
    return sorted(prefix + p.name[:-4] for p in root.iterdir() if p.name.endswith(".sql"))
