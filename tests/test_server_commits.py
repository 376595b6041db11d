"""One committed state per answer: many clients read a real server while builds commit in a loop.

Each loop lands one more flag, created before the range, so every partition of the range changes
with each commit: a document that mixed two commits would show two flag counts. Every answer must
be 200, show one count throughout, and the same ETag must always show the same count. So that the
test sees what the commit lock prevents, a commit moves its files into place slowly, and the server
keeps no answer: every request reads the partition files.
"""

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from pipeline import files, job
from pipeline.server import app as server
from pipeline.server.app import create_app
from pipeline.server.tokens import Tokens
from tests.instance import Instance
from tests.web import serving

TOKEN = "commits-token-0123456789abcdef"
AS_OF = dt.date(2025, 1, 19)
RANGE = "from=2025-01-06&to=2025-01-19"


def flag_count(document: dict) -> int:
    """The one flag count a document shows, or raise if its rows disagree (a mix of commits)."""
    counts = {r["total"] for r in document["flagTrends"]} | {
        sum(r["total"] for r in document["projectFlagTrends"] if r["week"] == week)
        for week in {r["week"] for r in document["projectFlagTrends"]}}
    assert len(counts) == 1, f"rows from more than one commit: {sorted(counts)}"
    return counts.pop()


class Forgetful(dict):
    """A cache that keeps nothing."""

    def __setitem__(self, key, value):
        pass


def test_every_answer_is_one_committed_state_while_builds_commit(tmp_path, monkeypatch):
    move = files._move
    monkeypatch.setattr(files, "_move", lambda staged, target: time.sleep(0.003) or move(staged, target))
    monkeypatch.setattr(server, "LRUCache", lambda maxsize: Forgetful())  # every answer made anew from the state held
    u = Instance()
    u.project("p")
    u.flag("f0", "p", "2025-01-03T10:00")
    u.land(tmp_path)
    job.build(tmp_path, job.plan_run(tmp_path, AS_OF))

    commits, done = [], threading.Event()

    def build_in_a_loop():
        try:
            for n in range(1, 7):
                u.flag(f"f{n}", "p", "2025-01-03T10:00")
                u.land(tmp_path, extracted_at=f"2026-01-{n + 1:02d}T00:00")
                commits.append(len(job.build(tmp_path, job.plan_backfill(tmp_path, dt.date(2024, 12, 2), AS_OF)).rows))
        finally:
            done.set()

    def read_until_done(url: str) -> list[tuple[int, str, int]]:
        seen = []
        with httpx.Client(base_url=url, headers={"Authorization": TOKEN}, timeout=60) as web:
            while not done.is_set() or len(seen) < 5:
                answer = web.get(f"/api/admin/insights?{RANGE}")
                seen.append((answer.status_code, answer.headers.get("ETag"),
                             flag_count(answer.json()) if answer.status_code == 200 else -1))
        return seen

    with serving(create_app(tmp_path, Tokens([TOKEN]), today=lambda: AS_OF)) as url, ThreadPoolExecutor(9) as pool:
        writer = pool.submit(build_in_a_loop)
        readers = [pool.submit(read_until_done, url) for _ in range(8)]
        writer.result()
        answers = [a for reader in readers for a in reader.result()]

    assert len(commits) == 6 and all(commits)  # each loop rebuilt the range's partitions in one commit
    assert {status for status, _, _ in answers} == {200}
    counts_by_etag = {}
    for _, etag, count in answers:
        counts_by_etag.setdefault(etag, set()).add(count)
    assert all(len(counts) == 1 for counts in counts_by_etag.values()), counts_by_etag
    seen_counts = {count for _, _, count in answers}
    assert len(seen_counts) > 1 and seen_counts <= set(range(1, 8))  # the readers saw commits happen
    assert len(answers) > 50
