"""One writer at a time per data directory: an exclusive lock held for a whole run.

The lock is an ``flock`` on ``<data dir>/state/run.lock``; the file records the holder (pid,
host, command, start time) for the message a second run gets. The kernel releases the lock when
its holder dies, even by SIGKILL, so a lock left by a killed run is never in force: the next run
takes it over, says so, and first clears what the dead run left in staging.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.calendar import UTC

log = logging.getLogger(__name__)


class DataDirBusy(RuntimeError):
    """Another run holds the data directory."""


class DataDirUnusable(RuntimeError):
    """A data directory that cannot be created, read or written."""


def usable_data_dir(data_dir: Path) -> Path:
    """The data directory, created if missing; ``DataDirUnusable`` if it cannot be written."""
    data_dir = Path(data_dir)
    try:
        (data_dir / "state").mkdir(parents=True, exist_ok=True)
        probe = data_dir / "state" / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise DataDirUnusable(f"cannot use data directory {data_dir}: {error.strerror or error}") from None
    return data_dir


@contextmanager
def exclusive(data_dir: Path, command: str, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the data directory's lock for a run, waiting up to ``wait_seconds`` for another run.

    Raises ``DataDirBusy`` naming the holder when the lock stays taken.
    """
    data_dir = usable_data_dir(data_dir)
    path = data_dir / "state" / "run.lock"
    handle = open(path, "a+", encoding="utf-8")
    try:
        _take(handle, data_dir, wait_seconds)
        previous = _holder(path)
        if previous:
            log.warning("taking over %s from a run that did not finish (%s)", path, _describe(previous))
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                 "started_at": dt.datetime.now(UTC).isoformat(timespec="seconds")}))
        handle.flush()
        shutil.rmtree(data_dir / "_staging", ignore_errors=True)
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()


def require_free(data_dir: Path, wait_seconds: float = 0) -> None:
    """``DataDirBusy`` naming the run that holds the data directory, if one still does after
    ``wait_seconds``: what a command checks before anything slow starts. Takes nothing."""
    path = Path(data_dir) / "state" / "run.lock"
    try:
        handle = open(path, "r", encoding="utf-8")
    except OSError:
        return  # no run ever held it (or it cannot be read: the run's own lock says so)
    with handle:
        _take(handle, Path(data_dir), wait_seconds)


def _take(handle, data_dir: Path, wait_seconds: float) -> None:
    """Lock ``handle`` (the lock file), waiting up to ``wait_seconds``; ``DataDirBusy`` naming the holder."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DataDirBusy(_busy_message(Path(handle.name), data_dir)) from None
            time.sleep(0.2)


def _holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None


def _describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')}, `{holder.get('command')}` started {holder.get('started_at')}"


def _busy_message(path: Path, data_dir: Path) -> str:
    holder = _holder(path)
    who = _describe(holder) if holder else "another run"
    return f"data directory {data_dir} is in use by {who}; wait for it to finish, or pass --wait SECONDS"
