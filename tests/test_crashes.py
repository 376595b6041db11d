"""Crash consistency: SIGKILL a run at random moments, many times; nothing half-written is ever seen,
and re-running gives the bytes of an uninterrupted run."""

import hashlib
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipeline import document

KILLS = 12
DURABLE = ("lake", "warehouse", "documents", "state/partitions")


def run_job(data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.crash_job", str(data_dir)],
                            cwd=Path(__file__).parents[1], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def durable_bytes(data_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in DURABLE for p in sorted((data_dir / folder).rglob("*")) if p.is_file()
    }


class Reader(threading.Thread):
    """Reads every published partition and document, over and over, recording what fails to read."""

    def __init__(self, data_dir: Path):
        super().__init__(daemon=True)
        self.data_dir, self.stop, self.faults, self.reads = data_dir, threading.Event(), [], 0

    def run(self) -> None:
        while not self.stop.is_set():
            for path in list((self.data_dir / "warehouse").rglob("*.parquet")):
                self._check(path, lambda p: pq.read_table(p))
            for path in list((self.data_dir / "documents").glob("*.json")):
                self._check(path, lambda p: document.validate(json.loads(p.read_text(encoding="utf-8"))))

    def _check(self, path: Path, read) -> None:
        try:
            read(path)
            self.reads += 1
        except FileNotFoundError:
            pass  # listed, then replaced between listing and opening: the next pass reads it
        except Exception as error:  # noqa: BLE001 - any other failure is a half-written file
            self.faults.append(f"{path}: {error}")


def test_killed_runs_leave_nothing_half_written_and_a_rerun_heals(tmp_path):
    reference = tmp_path / "reference"
    began = time.monotonic()
    assert run_job(reference).wait(300) == 0
    duration = time.monotonic() - began

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    reader = Reader(crashed)
    reader.start()
    chance = random.Random(20261126)
    try:
        for _ in range(KILLS):
            process = run_job(crashed)
            time.sleep(chance.uniform(0.3, duration))
            process.kill()
            process.wait()
        assert run_job(crashed).wait(300) == 0
    finally:
        reader.stop.set()
        reader.join()
    assert reader.faults == []
    assert reader.reads > 0
    assert durable_bytes(crashed) == durable_bytes(reference)
