"""Every shell and SQL snippet of README.md and docs/ runs on the sample, as written, and shows something.

The snippets run in a folder whose ``data/`` is what the quick start's ``insights run`` writes (the
sample up to today), with this environment's ``python`` and ``insights`` first on PATH, as after
``. .venv/bin/activate``. A block the tests cannot run says why in a ``<!-- snippet: not run … -->``
comment just above it; one marked ``in the background`` (a server) runs while the blocks after it
on its page run, then gets Ctrl-C.
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- snippet: (?P<mark>[^>]*?) -->\n)?```(?P<language>sh|sql)\n(?P<text>.*?)```", re.S)


def snippets(page: Path) -> list[tuple[str, str, str]]:
    """(mark, language, text) of every sh and sql block of a page, in order."""
    return [(m["mark"] or "", m["language"], m["text"]) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory) -> Path:
    """A folder whose data/ holds the sample landed and built up to today, as `insights run` leaves it."""
    from pipeline import calendar, job
    from pipeline.sources.sample import SampleSource

    folder = tmp_path_factory.mktemp("quick-start")
    today = calendar.today()
    job.land(folder / "data", SampleSource(today))
    job.build(folder / "data", job.plan_run(folder / "data", today))
    return folder


def shell(folder: Path, text: str, **options) -> subprocess.Popen:
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    return subprocess.Popen(["bash", "-euo", "pipefail", "-c", text], cwd=folder, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


def test_every_snippet_is_found_and_every_one_not_run_says_why():
    found = [(page.name, mark) for page in PAGES for mark, _, _ in snippets(page)]
    assert len(found) >= 9
    assert all(mark == "" or mark.startswith(("not run by the tests: ", "in the background")) for _, mark in found)


@pytest.mark.parametrize("page", [p for p in PAGES if snippets(p)], ids=lambda p: p.name)
def test_every_snippet_runs_on_the_sample_as_written_and_shows_something(quick_start, page):
    background = None
    try:
        for mark, language, text in snippets(page):
            if mark.startswith("not run"):
                continue
            if language == "sql":
                rows = duckdb.connect().execute(text.replace("data/", f"{quick_start}/data/")).fetchall()
                assert rows, f"{page.name}: no row from\n{text}"
                continue
            if mark.startswith("in the background"):
                background = shell(quick_start, text, start_new_session=True)
                _wait_for_server(background)
                continue
            done = shell(quick_start, text)
            out, err = done.communicate(timeout=120)
            assert done.returncode == 0 and out.strip(), f"{page.name}: exit {done.returncode}\n{text}\n{err}"
    finally:
        if background is not None:
            os.killpg(background.pid, signal.SIGINT)
            background.wait(timeout=15)


def _wait_for_server(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            urllib.request.urlopen("http://127.0.0.1:4243/health", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the server of the snippet never answered")
