"""A server's data directory following a mirror: restored from it before the server answers, and a
newer state pulled while it serves (as one commit: readers see the state before or after it)."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from pipeline import mirror
from pipeline.lock import DataDirBusy, exclusive

log = logging.getLogger(__name__)


def follow_seconds() -> float:
    """How often a server looks for a newer mirrored state: INSIGHTS_MIRROR_FOLLOW_SECONDS, default 300."""
    return float(os.environ.get("INSIGHTS_MIRROR_FOLLOW_SECONDS", "300"))


def follow(data_dir: Path, url: str) -> None:
    """Bring ``data_dir`` level with the mirror now (``mirror.before``: ``MirrorError`` where it is empty
    and the store cannot be read), then every ``follow_seconds`` on a thread of its own, skipping a
    turn while a run holds the directory."""
    said = _level(data_dir, url)
    log.info("%s", said)
    threading.Thread(target=_following, args=(data_dir, url, said), name="insights-mirror", daemon=True).start()


def _level(data_dir: Path, url: str) -> str:
    with exclusive(data_dir, f"web --mirror {url}"):
        return mirror.before(data_dir, url)


def _following(data_dir: Path, url: str, said: str) -> None:
    while True:
        time.sleep(follow_seconds())
        try:
            now = _level(data_dir, url)
        except DataDirBusy:
            continue
        except Exception as error:  # noqa: BLE001 - the state held keeps being served; said when it changes
            now = f"cannot follow mirror {url}: {error}"
        if now != said:
            log.info("%s", now)
            said = now
