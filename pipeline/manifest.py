"""The run manifest: what one run was asked, what it read and wrote, how long each step took.

Written atomically to ``<data dir>/runs/<run id>.json`` when the run ends, whether it succeeded or
failed. It never holds a credential: sources appear by their safe ``name``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pipeline import files
from pipeline.calendar import UTC


class RunManifest:
    """The record of one run, filled in as it goes and written when its ``with`` block ends.

    A block that raises is recorded as failed, with the error, and the error goes on.
    """

    def __init__(self, data_dir: Path, command: str, parameters: dict[str, Any]):
        started = dt.datetime.now(UTC)
        self.data_dir = Path(data_dir)
        self.run_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.record: dict[str, Any] = {
            "run_id": self.run_id,
            "command": command,
            "parameters": parameters,
            "started_at": started.isoformat(),
            "steps": {},
        }

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a step; what the block puts in the yielded dict is recorded with it."""
        details: dict[str, Any] = {}
        began = time.perf_counter()
        try:
            yield details
        finally:
            details["seconds"] = round(time.perf_counter() - began, 3)
            self.record["steps"][name] = details

    @property
    def path(self) -> Path:
        return self.data_dir / "runs" / f"{self.run_id}.json"

    def __enter__(self) -> "RunManifest":
        return self

    def __exit__(self, kind, error, _) -> None:
        self.record.update(status="failed" if error else "succeeded", finished_at=dt.datetime.now(UTC).isoformat())
        if error:
            self.record["error"] = f"{kind.__name__}: {error}"
        files.write_json(self.data_dir, self.path, self.record)


def latest(data_dir: Path, command: str) -> tuple[dict | None, dict | None]:
    """The newest manifest of ``command`` runs, and the newest that succeeded (None where there is none).

    Manifests are named by the second their run started, so the newest come first by name (runs of
    one second by their start instants); reading stops at the newest success.
    """
    last = None
    paths = sorted((Path(data_dir) / "runs").glob("*.json"), reverse=True)
    for _, same_second in itertools.groupby(paths, key=lambda path: path.name[:16]):
        for record in sorted(filter(None, map(_read, same_second)), key=lambda r: r.get("started_at", ""), reverse=True):
            if record.get("command") != command:
                continue
            last = last or record
            if record.get("status") == "succeeded":
                return last, record
    return last, None


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a file being replaced, or not a manifest: the others tell
