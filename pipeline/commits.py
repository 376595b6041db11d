"""The warehouse's commits: readers see one committed state, whatever a build is publishing.

A build stages its partition files, then *commits* them: it renames them into place, one by one,
while holding the commit lock exclusively, and ends by writing the new state's number to
``state/warehouse.json``. A reader (the insights server, ``export``) holds the same lock shared for
as long as it reads, so it reads every partition as it was before a commit or every one as it is
after, never a mix; the state number names what it read (an ETag). Readers never take the run lock,
and a commit waits only for the reads in flight, as a reader waits only for a commit in flight.

Two ``flock`` files under ``state/`` make this a lock that neither side can starve: a writer first
takes ``warehouse.turnstile`` exclusively, which stops new readers at the door, then waits for the
readers inside to leave ``warehouse.lock``. The kernel releases both when their holder dies. A
writer killed half-way through its renames leaves ``publishing`` set in ``warehouse.json``: readers
then refuse to read (the warehouse is torn) until the next build commits; that build rebuilds
every partition the dead one left stale, or, with nothing left to rebuild, just commits.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipeline import files

STATE = "warehouse.json"


class WarehouseUnreadable(RuntimeError):
    """A warehouse a build died committing to: torn until the next build commits."""


@dataclass(frozen=True)
class CommitState:
    """What ``state/warehouse.json`` says: the number of the last commit, and whether one is under way."""

    version: int
    publishing: bool


def read_state(data_dir: Path) -> CommitState | None:
    """The data directory's commit state, or None where no build ever committed.

    Raises ``WarehouseUnreadable`` where ``state/warehouse.json`` is not what a commit writes (it was
    emptied or edited by hand): readers refuse, and the next build commits past it."""
    path = Path(data_dir) / "state" / STATE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return CommitState(int(record["version"]), bool(record["publishing"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise WarehouseUnreadable(f"the warehouse's commit record state/{STATE} is unreadable ({type(error).__name__}): "
                                  "the next run or backfill commits past it") from None


@contextmanager
def committing(data_dir: Path, at_least: int = 0) -> Iterator[None]:
    """Hold the commit lock exclusively while the block publishes; the state number moves on after
    it, to ``at_least`` where that is further (a state restored from a mirror keeps its number)."""
    data_dir = Path(data_dir)
    with _locked(data_dir, "warehouse.turnstile", fcntl.LOCK_EX, create=True), \
            _locked(data_dir, "warehouse.lock", fcntl.LOCK_EX, create=True):
        try:
            state = read_state(data_dir) or CommitState(0, False)
        except WarehouseUnreadable:  # numbered on from the clock, past any number an ETag already named
            state = CommitState(int(time.time()), False)
        _write_state(data_dir, CommitState(state.version, True))
        yield
        _write_state(data_dir, CommitState(max(state.version + 1, at_least), False))


def settle(data_dir: Path) -> None:
    """After a writer died committing, and the next build found nothing left to rebuild (so every
    partition the dead build meant to write is whole), commit the warehouse as it stands.

    Only a holder of the run lock may call this: no other writer can be committing then."""
    try:
        state = read_state(data_dir)
    except WarehouseUnreadable:
        state = CommitState(0, True)
    if state is not None and state.publishing:
        with committing(data_dir):
            pass


@contextmanager
def reading(data_dir: Path) -> Iterator[CommitState | None]:
    """Hold the commit lock shared while the block reads; yields the committed state it reads, or
    None where no build ever committed (there is nothing to hold).

    Raises ``WarehouseUnreadable`` where the last build died committing.
    """
    data_dir = Path(data_dir)
    if read_state(data_dir) is None:
        yield None
        return
    with _locked(data_dir, "warehouse.turnstile", fcntl.LOCK_SH) as door:
        with _locked(data_dir, "warehouse.lock", fcntl.LOCK_SH):
            fcntl.flock(door, fcntl.LOCK_UN)  # inside: a writer may queue at the door now
            state = read_state(data_dir)
            if state.publishing:
                raise WarehouseUnreadable("a build died while committing to the warehouse, which is "
                                          "torn until the next run or backfill commits")
            yield state


def _write_state(data_dir: Path, state: CommitState) -> None:
    files.write_json(data_dir, data_dir / "state" / STATE, {"version": state.version, "publishing": state.publishing})


@contextmanager
def _locked(data_dir: Path, name: str, operation: int, create: bool = False) -> Iterator[int]:
    path = data_dir / "state" / name
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT if create else os.O_RDONLY, 0o644)
    try:
        fcntl.flock(descriptor, operation)
        yield descriptor
    finally:
        os.close(descriptor)
