"""The data directory mirrored to object storage: pushed after each commit, restored on a new machine.

What is mirrored is what no source can give back and what a build needs: the lake, the warehouse
and the committed state under ``state/`` (the partitions' records, the landing's and the digest's).
Not mirrored: the locks, the prepared histories (a cache a build makes again), this record, run
manifests and documents (each machine writes its own). The store's layout is ``store``'s.

A push, holding the data directory's lock after a run's or a backfill's commit: reads the pointer,
and refuses where it names a state this directory did not come from (``MirrorRefused``: a second
machine on one prefix; nothing of the mirror is replaced); uploads the files that changed since
the state it last pushed or pulled (a new size or time, then a new SHA-256), several at once, each
streamed; writes the state's manifest, then the pointer, last, conditionally on the version read;
then removes what only states replaced more than the grace period ago name (never what the
state just replaced names: a reader that started before may still be reading it).

Before a run (``before``): an empty data directory restores the mirror's state; one whose last
push or pull is older than the mirror's and that changed nothing since pulls the newer state;
one with commits the mirror lacks pushes them after the run. What was pushed or pulled, and the
last attempt's outcome (for ``/metrics``), are kept in ``state/mirror.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline import commits, files
from pipeline.calendar import UTC
from pipeline.mirror.store import MirrorError, MirrorRefused, Pointer, Store, data_key, new_tag

__all__ = ["MirrorError", "MirrorFailed", "MirrorRefused", "before", "push", "mirror_url", "outcome", "RECORD"]

log = logging.getLogger(__name__)

RECORD = "mirror.json"
MIRRORED = ("lake", "warehouse", "state")
NOT_MIRRORED = {"state/prepared", f"state/{RECORD}", f"state/{commits.STATE}", "state/run.lock",
                "state/warehouse.lock", "state/warehouse.turnstile"}
"""Paths under ``MIRRORED`` kept local: locks, the prepared histories, this record, and the commit
number (a manifest carries it; a restore commits under it)."""
AT_ONCE = 8
"""Files uploaded or downloaded at once (each streamed, a part at a time: memory stays bounded)."""


class MirrorFailed(RuntimeError):
    """The run's or backfill's work is done and committed, but its mirror failed: one line, with the
    run's result (what was written) for the caller to show."""

    def __init__(self, error: MirrorError, result: dict):
        then = "" if isinstance(error, MirrorRefused) else ", and the next run pushes it"
        super().__init__(f"{error}; the local commit stands{then}")
        self.result = result


def mirror_url(url: str | None) -> str | None:
    """The mirror to use: the one given, else INSIGHTS_MIRROR, else none."""
    return url or os.environ.get("INSIGHTS_MIRROR") or None


def grace_seconds() -> float:
    """How long files only a replaced state names are kept: INSIGHTS_MIRROR_GRACE_SECONDS, default an hour."""
    return float(os.environ.get("INSIGHTS_MIRROR_GRACE_SECONDS", "3600"))


def local_files(data_dir: Path) -> dict[str, os.stat_result]:
    """Every mirrored file of the data directory, by path relative to it (POSIX), with its size and time."""
    found: dict[str, os.stat_result] = {}
    for top in MIRRORED:
        for folder, names, file_names in os.walk(Path(data_dir) / top):
            relative = Path(folder).relative_to(data_dir).as_posix()
            names[:] = [n for n in names if f"{relative}/{n}" not in NOT_MIRRORED]
            for name in file_names:
                path = f"{relative}/{name}"
                if path not in NOT_MIRRORED and not name.startswith(".probe-"):
                    found[path] = os.stat(Path(folder) / name)
    return found


def before(data_dir: Path, url: str) -> str:
    """Bring the data directory level with the mirror before a run: restore into an empty one, pull
    a newer state into one that changed nothing since its last push or pull; else say what the
    push after the run will do: in one line, returned. ``MirrorError`` only where the directory is
    empty and the store cannot be read (it may hold this instance's history)."""
    data_dir = Path(data_dir)
    local = local_files(data_dir)
    try:
        store = Store(url)
        pointer = store.pointer()
        record = _adopted(_record(data_dir, url), pointer)
        if pointer is None:
            said = f"mirror {url} holds no state yet: this directory's is pushed after the run"
        elif record.get("restoring") or not local:
            said = f"restored from mirror {url}: {_pull(data_dir, store, pointer, record, local)}"
        elif record.get("manifest") == pointer.manifest:
            said = f"in step with mirror {url} (state {pointer.seq})"
        elif record.get("seq", 0) < pointer.seq and _unchanged(local, record):
            said = f"behind mirror {url}, pulled its newer state: {_pull(data_dir, store, pointer, record, local)}"
        elif record.get("seq", 0) > pointer.seq:
            said = f"ahead of mirror {url} (state {pointer.seq}, this directory's {record['seq']}): pushed after the run"
        else:
            said = f"{_diverged(url, pointer)}; this run's work stays local"
    except MirrorError as error:
        if not local:
            raise MirrorError(f"{error}; an empty data directory waits for its mirror, which may hold this "
                              "instance's history") from None
        said = f"{error}; the run goes on, and its commit is pushed when the store answers"
    return said


def push(data_dir: Path, url: str) -> dict:
    """Push the committed state (``before`` this module's text); what was uploaded. Records the
    attempt's outcome, then raises ``MirrorError`` (``MirrorRefused``) where it failed."""
    data_dir, began = Path(data_dir), time.perf_counter()
    try:
        pushed = _push(data_dir, Store(url), url)
    except MirrorError as error:
        _attempted(data_dir, url, "refused" if isinstance(error, MirrorRefused) else "failed", time.perf_counter() - began,
                   error=str(error))
        raise
    _attempted(data_dir, url, "succeeded", time.perf_counter() - began, **pushed)
    log.info("mirrored to %s: state %d, %d files uploaded (%.1f MB) in %.1f s", url, pushed["state"], pushed["files"],
             pushed["bytes"] / 1e6, time.perf_counter() - began)
    return pushed


def outcome(data_dir: Path) -> dict | None:
    """The latest push's outcome (``at``, ``outcome``, ``url`` and figures), ``succeeded_at`` (the latest
    success's time) and ``failing_since`` (the first failure since it, or ever); None where this
    directory never pushed. Times are ISO 8601, UTC."""
    record = _read_record(data_dir)
    if "attempt" not in record:
        return None
    return {**record["attempt"], "succeeded_at": record.get("succeeded_at"), "failing_since": record.get("failing_since")}


def _push(data_dir: Path, store: Store, url: str) -> dict:
    pointer = store.pointer()
    record = _adopted(_record(data_dir, url), pointer)
    in_step = pointer is not None and record.get("manifest") == pointer.manifest
    if pointer is not None and not in_step and pointer.seq >= record.get("seq", 0):
        raise MirrorRefused(_diverged(url, pointer))
    state = commits.read_state(data_dir)
    if state is None or state.publishing:
        raise MirrorError(f"nothing whole to mirror to {url}: the warehouse "
                          f"{'holds no commit' if state is None else 'is torn until the next run or backfill commits'}")
    known = record.get("files", {}) if in_step else {}
    seq = max(pointer.seq if pointer else 0, record.get("seq", 0)) + 1
    tag = new_tag(seq)
    entries, uploads = {}, []
    for path, stat in sorted(local_files(data_dir).items()):
        entry = known.get(path)
        if entry and entry[1] == stat.st_size and entry[3] == stat.st_mtime_ns:
            entries[path] = entry
            continue
        sha256 = _sha256(data_dir / path)
        if entry and entry[1] == stat.st_size and entry[2] == sha256:
            entries[path] = [entry[0], stat.st_size, sha256, stat.st_mtime_ns]
            continue
        entries[path] = [data_key(path, tag), stat.st_size, sha256, stat.st_mtime_ns]
        uploads.append(path)
    if in_step and not uploads and entries.keys() == known.keys() and record.get("commit") == state.version:
        return {"state": pointer.seq, "files": 0, "bytes": 0}
    with ThreadPoolExecutor(AT_ONCE, thread_name_prefix="mirror") as pool:
        list(pool.map(lambda path: store.upload(data_dir / path, entries[path][0]), uploads))
    manifest_key = f"manifests/{tag}.json"
    store.put_manifest(manifest_key, {
        "format": 1, "seq": seq, "commit": state.version, "previous": pointer.manifest if pointer else None,
        "files": {path: {"key": key, "size": size, "sha256": sha256} for path, (key, size, sha256, _) in entries.items()}})
    synced = {"seq": seq, "manifest": manifest_key, "commit": state.version, "files": entries}
    _write_record(data_dir, {**record, "url": url, "pending": synced})
    written = store.swap_pointer({"format": 1, "seq": seq, "manifest": manifest_key, "commit": state.version}, pointer)
    _write_record(data_dir, {**{k: v for k, v in record.items() if k != "pending"}, "url": url, **synced})
    try:
        _collect_garbage(store, written)
    except MirrorError as error:
        log.warning("%s: the files no state needs are removed by a later push", error)
    return {"state": seq, "files": len(uploads), "bytes": sum(entries[path][1] for path in uploads)}


def _pull(data_dir: Path, store: Store, pointer: Pointer, record: dict, local: dict[str, os.stat_result]) -> str:
    """Make the data directory the mirror's state: download what it lacks (each checked), then, as one
    commit, put every file in place and remove what the state does not hold."""
    manifest = store.manifest(pointer.manifest)
    wanted = manifest["files"]
    _write_record(data_dir, {**record, "url": store.url, "restoring": pointer.manifest})
    have = record.get("files", {})
    downloads = [path for path, entry in wanted.items() if not (
        path in local and path in have and have[path][1:3] == [entry["size"], entry["sha256"]]
        and have[path][3] == local[path].st_mtime_ns)]
    staging = files.staging_dir(data_dir) / "mirror"
    staging.mkdir(exist_ok=True)
    staged = {path: staging / f"{number}" for number, path in enumerate(downloads)}
    with ThreadPoolExecutor(AT_ONCE, thread_name_prefix="mirror") as pool:
        list(pool.map(lambda path: store.download(wanted[path]["key"], staged[path], wanted[path]["size"],
                                                  wanted[path]["sha256"]), downloads))
    with commits.committing(data_dir, at_least=int(manifest["commit"])):
        for path, source in staged.items():
            files.publish(source, data_dir / path)
        for path in local.keys() - wanted.keys():
            (data_dir / path).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "state" / "prepared", ignore_errors=True)  # histories of another lineage: made again
    entries = {path: [entry["key"], entry["size"], entry["sha256"], os.stat(data_dir / path).st_mtime_ns]
               for path, entry in wanted.items()}
    _write_record(data_dir, {**{k: v for k, v in record.items() if k not in ("restoring", "pending")}, "url": store.url,
                             "seq": pointer.seq, "manifest": pointer.manifest, "commit": int(manifest["commit"]),
                             "files": entries})
    size = sum(wanted[path]["size"] for path in downloads)
    return f"state {pointer.seq}, {len(downloads)} files downloaded ({size / 1e6:.1f} MB)"


def _collect_garbage(store: Store, pointer: Pointer) -> None:
    """Remove the manifests and files no state needs: a state replaced more than the grace period ago
    (by the store's clock), and not just now, is no longer needed, nor a file only such states, or
    none, name. What was written within the grace period stays (a push under way elsewhere,
    refused at its end)."""
    grace = dt.timedelta(seconds=grace_seconds())
    manifests = {m["path"]: m["last_modified"] for m in store.listed("manifests")}
    needed, key, replaced_at, kept = set(), pointer.manifest, None, 0
    while key in manifests and (kept < 2 or pointer.written_at - replaced_at < grace):  # the state replaced now stays
        manifest = store.manifest(key)
        needed.add(key)
        needed.update(entry["key"] for entry in manifest["files"].values())
        key, replaced_at, kept = manifest.get("previous"), manifests[key], kept + 1
    old = [path for path, at in manifests.items() if path not in needed and pointer.written_at - at >= grace]
    if not old:
        return
    stale = [o["path"] for o in store.listed("data") if o["path"] not in needed
             and pointer.written_at - o["last_modified"] >= grace]
    store.delete(stale + old)
    log.info("removed %d files and %d manifests no state of mirror %s needs", len(stale), len(old), store.url)


def _diverged(url: str, pointer: Pointer) -> str:
    return (f"mirror {url} holds state {pointer.seq}, which this data directory did not come from (another machine "
            "writes there): it is never replaced; to continue from it, start from an empty data directory; to keep "
            "this one, mirror it to another prefix")


def _unchanged(local: dict[str, os.stat_result], record: dict) -> bool:
    """Whether the directory's files are those of its last push or pull (same paths, sizes and times)."""
    have = record.get("files", {})
    return have.keys() == local.keys() and all(
        have[path][1] == stat.st_size and have[path][3] == stat.st_mtime_ns for path, stat in local.items())


def _adopted(record: dict, pointer: Pointer | None) -> dict:
    """The record, with a push that was cut off after its pointer was written taken as done."""
    pending = record.get("pending")
    if pending and pointer is not None and pointer.manifest == pending["manifest"]:
        return {**{k: v for k, v in record.items() if k != "pending"}, **pending}
    return record


def _record(data_dir: Path, url: str) -> dict:
    """What this directory last pushed to or pulled from ``url`` (empty where another mirror or none),
    with its attempts."""
    record = _read_record(data_dir)
    if record.get("url") == url:
        return record
    return {k: record[k] for k in ("attempt", "succeeded_at", "failing_since") if k in record}


def _read_record(data_dir: Path) -> dict:
    try:
        return json.loads((Path(data_dir) / "state" / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_record(data_dir: Path, record: dict) -> None:
    files.write_json(data_dir, Path(data_dir) / "state" / RECORD, record)


def _attempted(data_dir: Path, url: str, result: str, seconds: float, **figures) -> None:
    now = dt.datetime.now(UTC).isoformat(timespec="seconds")
    record = _read_record(data_dir)
    record["attempt"] = {"url": url, "at": now, "outcome": result, "seconds": round(seconds, 3), **figures}
    if result == "succeeded":
        record["succeeded_at"] = now
        record.pop("failing_since", None)
    else:
        record.setdefault("failing_since", now)
    _write_record(data_dir, record)


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
