"""Atomic, durable file writes: stage outside the dataset, fsync, rename, fsync the directory.

A reader of any path this module writes sees either the old file or the whole new one, never a
part. Staging files live under the data directory's ``_staging/`` (the same file system, so the
rename is atomic) and never inside a dataset a reader globs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

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
    _move(staged, target)
    _fsync(target.parent)


def write_atomically(data_dir: Path, target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(path)`` on a staged path, fsync it, then publish it as ``target``."""
    staged = _staged_path(staging_dir(data_dir), target.suffix)
    try:
        _write_durably(staged, write)
        publish(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def _write_durably(path: Path, write: Callable[[Path], None]) -> None:
    write(path)
    _fsync(path)


def write_parquet(data_dir: Path, target: Path, table: pa.Table, metadata: dict[str, str] | None = None) -> None:
    """Write one Parquet file atomically, with ``metadata`` as key-value entries in its footer."""
    write_atomically(data_dir, target, _parquet(table, metadata))


def _parquet(table: pa.Table, metadata: dict[str, str] | None, schema: pa.Schema | None = None,
             statistics: bool | list[str] = True) -> Callable[[Path], None]:
    options = {**PARQUET_OPTIONS, "write_statistics": statistics}

    def write(path: Path) -> None:
        if schema is not None and _encoded_as(table.schema, schema):
            _write_encoded(table, path, metadata, options)
            return
        written = table if schema is None or table.schema.equals(schema) else table.cast(schema)
        if metadata:
            written = written.replace_schema_metadata({**(written.schema.metadata or {}), **metadata})
        pq.write_table(written, path, **options)

    return write


def _encoded_as(encoded: pa.Schema, schema: pa.Schema) -> bool:
    """Whether ``encoded`` is ``schema`` with some string columns dictionary-encoded (and no other change)."""
    if encoded.names != schema.names or encoded.equals(schema):
        return False
    return all(e.type == f.type or (pa.types.is_dictionary(e.type) and e.type.value_type == f.type == pa.string())
               for e, f in zip(encoded, schema))


def _write_encoded(table: pa.Table, path: Path, metadata: dict[str, str] | None, options: dict) -> None:
    """Write dictionary-encoded string columns as they are, without decoding them first: Parquet
    stores them dictionary-encoded anyway. The Arrow schema is left out of the file, so a reader
    sees plain strings, as in every other file."""
    with pq.ParquetWriter(path, table.schema, store_schema=False,
                          **{k: v for k, v in options.items() if k != "row_group_size"}) as writer:
        writer.write_table(table, row_group_size=options["row_group_size"])
        if metadata:
            writer.add_key_value_metadata(metadata)


class Batch:
    """Many files staged as they come and published together, their writes and fsyncs overlapped.

    Each staged file is written and fsynced on one of ``WRITERS`` threads (creating and syncing a
    small file mostly waits on the kernel, not the interpreter). ``publish`` waits for them all,
    renames each onto its target in the order staged, then fsyncs the directories renamed into;
    so each target changes whole, from old to new, and a file staged after another is never in
    place before it.
    """

    WRITERS = 4

    def __init__(self, data_dir: Path):
        self.staging = staging_dir(data_dir)
        self.staged: list[tuple[Path, Path]] = []
        self.writing: list[Future] = []
        self.pool = ThreadPoolExecutor(self.WRITERS)

    def write_parquet(self, target: Path, table: pa.Table, metadata: dict[str, str] | None = None,
                      schema: pa.Schema | None = None, statistics: bool | list[str] = True) -> None:
        """Stage a Parquet file as ``write_parquet`` would write it, cast to ``schema`` (on the writer
        thread, so that only the files being written are ever held twice), with min/max
        ``statistics`` for every column or for the columns named."""
        self._stage(target, _parquet(table, metadata, schema, statistics))

    def write_json(self, target: Path, document: Any) -> None:
        """Stage a JSON document as ``write_json`` would write it."""
        self._stage(target, _json(document))

    def publish(self) -> None:
        """Swap every staged file in, durably."""
        publish_staged(self.keep())

    def keep(self) -> list[tuple[Path, Path]]:
        """Wait for the staged files' writes and hand them over, unpublished, as (staged, target)
        pairs in the order staged: ``publish_staged`` swaps them in later (a backfill's one commit)."""
        for written in self.writing:
            written.result()
        kept, self.staged = self.staged, []
        return kept

    def written(self) -> None:
        """Wait until every file staged so far is written (their tables can then be freed)."""
        for written in self.writing:
            written.result()

    def staged_file(self, target: Path) -> Path | None:
        """The file last staged for ``target``, once written; None where none is staged."""
        for (staged, staged_for), written in zip(reversed(self.staged), reversed(self.writing)):
            if staged_for == target:
                written.result()
                return staged
        return None

    def discard(self) -> None:
        """Drop whatever is staged and not yet published."""
        self.pool.shutdown(cancel_futures=True)
        for staged, _ in self.staged:
            staged.unlink(missing_ok=True)
        self.staged = []

    def _stage(self, target: Path, write: Callable[[Path], None]) -> None:
        staged = _staged_path(self.staging, target.suffix)
        self.staged.append((staged, target))
        self.writing.append(self.pool.submit(_write_durably, staged, write))


def publish_staged(staged: list[tuple[Path, Path]]) -> None:
    """Rename staged files onto their targets, in order, then fsync the directories renamed into."""
    directories = {}
    for path, target in staged:
        _move(path, target)
        directories[target.parent] = None
    with ThreadPoolExecutor(Batch.WRITERS) as pool:
        list(pool.map(_fsync, directories))


@contextmanager
def batch(data_dir: Path, around_publish: Callable[[], AbstractContextManager] = nullcontext) -> Iterator[Batch]:
    """A ``Batch`` published when the block ends normally (inside ``around_publish()``: a lock, say),
    and discarded when it raises."""
    pending = Batch(data_dir)
    try:
        yield pending
        with around_publish():
            pending.publish()
    finally:
        pending.discard()


class ParquetSink:
    """One Parquet file written batch by batch in staging, published whole by ``commit``.

    Rows are buffered into row groups of up to ``ROW_GROUP`` rows, so memory holds one row group at
    a time whatever the file's size. A sink that received no rows publishes nothing.
    """

    ROW_GROUP = 1_000_000

    def __init__(self, data_dir: Path, target: Path, schema: pa.Schema, metadata: dict[str, str] | None = None):
        self.data_dir, self.target = data_dir, target
        self.schema = schema.with_metadata({**(schema.metadata or {}), **(metadata or {})}) if metadata else schema
        self.staged = _staged_path(staging_dir(data_dir), ".parquet")
        self.writer: pq.ParquetWriter | None = None
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Add rows (an Arrow table with the sink's columns)."""
        if table.num_rows == 0:
            return
        self.buffer.append(table.cast(self.schema))
        self.buffered += table.num_rows
        self.rows += table.num_rows
        if self.buffered >= self.ROW_GROUP:
            self._flush()

    def commit(self) -> int:
        """Publish the file atomically (when it has rows); returns its row count."""
        try:
            if self.rows:
                self._flush()
                self.writer.close()
                _fsync(self.staged)
                publish(self.staged, self.target)
            return self.rows
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop whatever was staged."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.staged.unlink(missing_ok=True)

    def _flush(self) -> None:
        if not self.buffer:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.staged, self.schema, **{k: v for k, v in PARQUET_OPTIONS.items()
                                                                       if k != "row_group_size"})
        self.writer.write_table(pa.concat_tables(self.buffer), row_group_size=PARQUET_OPTIONS["row_group_size"])
        self.buffer, self.buffered = [], 0


def json_text(document: Any) -> str:
    """Canonical JSON: two-space indent, UTF-8 characters as they are, a trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_json(data_dir: Path, target: Path, document: Any) -> None:
    """Write a JSON document atomically, as canonical JSON."""
    write_atomically(data_dir, target, _json(document))


def _json(document: Any) -> Callable[[Path], None]:
    text = json_text(document)
    return lambda path: path.write_text(text, encoding="utf-8")


def _staged_path(staging: Path, suffix: str) -> Path:
    return staging / f"{uuid.uuid4().hex}{suffix}"


def _move(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)


def _fsync(path: Path) -> None:
    """Flush a file's or a directory's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
