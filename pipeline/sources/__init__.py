"""The sources the lake lands raw Unleash data from."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from pipeline.sources.base import Source, SourceError, SourceRefused, SourceUnavailable, UnknownSource

__all__ = ["Source", "SourceError", "SourceRefused", "SourceUnavailable", "UnknownSource", "open_source"]


def open_source(spec: str, as_of: dt.date, seed: int = 1) -> Source:
    """The source a user named: ``sample``, a ``postgresql://`` URL, an Unleash's web address (its
    Admin API, with the token in ``INSIGHTS_UNLEASH_TOKEN``), or an export directory.

    ``as_of`` is the logical date: the sample instance is simulated up to its end.
    """
    if spec == "sample":
        from pipeline.sources.sample import SampleSource

        return SampleSource(as_of, seed)
    if spec.startswith(("http://", "https://")):
        from pipeline.sources.unleash_api import UnleashApiSource

        return UnleashApiSource(spec)
    if spec.startswith(("postgresql://", "postgres://")):
        from pipeline.sources.postgres import PostgresSource

        return PostgresSource(spec)
    if Path(spec).is_dir():
        from pipeline.sources.export_dir import ExportDirSource

        return ExportDirSource(Path(spec))
    kinds = "use `sample`, a postgresql:// URL, an Unleash's https:// address or an export directory"
    if "://" not in spec and (os.sep in spec or spec.startswith((".", "~"))):  # meant as a folder
        problem = "is not a directory" if Path(spec).exists() else "no such directory"
        raise UnknownSource(f"source {spec}: {problem} ({kinds})")
    raise UnknownSource(f"unknown source {spec!r}: {kinds}")
