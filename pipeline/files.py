"""Atomic, durable file writes: stage outside the dataset, fsync, rename, fsync the directory.

A reader of any path this module writes sees either the old file or the whole new one, never a
part. Staging files live under the data directory's ``_staging/`` (the same file system, so the
rename is atomic) and never inside a dataset a reader globs.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_OPTIONS = dict(compression="zstd", use_dictionary=True, write_statistics=True, row_group_size=1_000_000)


def staging_dir(data_dir: Path) -> Path:
    """The data directory's staging area, created on first use."""
    path = data_dir / "_staging"
    path.mkdir(parents=True, exist_ok=True)
    return path


def publish(staged: Path, target: Path) -> None:
    """Move a fully written, fsynced staged file onto ``target`` atomically and durably."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)
    _fsync_dir(target.parent)


def write_atomically(data_dir: Path, target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(path)`` on a staged path, fsync it, then publish it as ``target``."""
    staged = staging_dir(data_dir) / f"{uuid.uuid4().hex}{target.suffix}"
    try:
        write(staged)
        with open(staged, "rb+") as handle:
            os.fsync(handle.fileno())
        publish(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def write_parquet(data_dir: Path, target: Path, table: pa.Table, metadata: dict[str, str] | None = None) -> None:
    """Write one Parquet file atomically, with ``metadata`` as key-value entries in its footer."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    write_atomically(data_dir, target, lambda path: pq.write_table(table, path, **PARQUET_OPTIONS))


def json_text(document: Any) -> str:
    """Canonical JSON: two-space indent, UTF-8 characters as they are, a trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_json(data_dir: Path, target: Path, document: Any) -> None:
    """Write a JSON document atomically, as canonical JSON."""
    text = json_text(document)
    write_atomically(data_dir, target, lambda path: path.write_text(text, encoding="utf-8"))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
