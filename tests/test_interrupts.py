"""Ctrl-C and SIGTERM: a command ends within 10 s, in one line, exit 130 or 143, and the next run heals in silence;
both ways a run goes: in this process (no Prefect API configured) and as a flow run of a Prefect server."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
RUN = [sys.executable, "-c", "from pipeline.cli import main; main()", "run", "--date", "2025-03-03"]


WAYS = {"in-process": {"landing": "landed events", "building": "histories of generation"},
        "prefect": {"landing": "Beginning flow run", "building": "Task run 'land-"}}
"""Each way a run goes, and a line of its stderr in each phase."""


def environment(tmp_path: Path, way: str = "in-process") -> dict[str, str]:
    """A user's shell: no Prefect API configured, or the tests' Prefect server (the ``prefect`` fixture's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    if way == "prefect":
        env["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"]
    return env


def way_of(request) -> str:
    """The test's way of running, with the tests' Prefect server started where it needs one."""
    way = request.node.callspec.params["way"]
    if way == "prefect":
        request.getfixturevalue("prefect")
    return way


def started_until(tmp_path: Path, data_dir: Path, marker: str, way: str, **options) -> tuple[subprocess.Popen, list[str]]:
    """`insights run` started the ``way`` given, once its stderr shows ``marker``: the process, and the
    lines it printed until then."""
    process = subprocess.Popen([*RUN, "--data-dir", str(data_dir)], cwd=ROOT, env=environment(tmp_path, way),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)
    before: list[str] = []
    for line in process.stderr:
        before.append(line)
        if marker in line:
            return process, before
    pytest.fail(f"the run ended before {marker!r}: {''.join(before)}")


def run_until(tmp_path: Path, data_dir: Path, marker: str, number: int, way: str = "in-process"
              ) -> tuple[int, float, list[str], list[str]]:
    """Start `insights run`, send ``number`` when stderr shows ``marker``; its exit code, the seconds it
    took to end after the signal, stderr's lines before the signal and after it."""
    process, before = started_until(tmp_path, data_dir, marker, way)
    process.send_signal(number)
    sent = time.monotonic()
    after: list[str] = []
    reader = threading.Thread(target=lambda: after.extend(process.stderr))
    reader.start()
    code = process.wait(timeout=60)
    took = time.monotonic() - sent
    reader.join(timeout=5)
    return code, took, before, after


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """A run of each way that nothing interrupted, for what a healed run must equal, made when first asked."""
    made: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}

    def of(way: str) -> tuple[Path, subprocess.CompletedProcess]:
        if way not in made:
            home = tmp_path_factory.mktemp(f"clean-{way}")
            done = subprocess.run([*RUN, "--data-dir", str(home / "data")], cwd=ROOT, env=environment(home, way),
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            made[way] = home / "data", done
        return made[way]
    return of


@pytest.mark.parametrize("phase", ["landing", "building"])
@pytest.mark.parametrize("way", list(WAYS))
def test_ctrl_c_ends_a_run_within_10_s_in_one_line_and_the_next_run_heals_quietly(tmp_path, clean_run, phase, way,
                                                                                 request):
    data_dir = tmp_path / "data"
    code, took, _, after = run_until(tmp_path, data_dir, WAYS[way_of(request)][phase], signal.SIGINT, way)
    assert code == 130 and took < 10, (phase, code, took, after)
    assert len(after) <= 3 and not any("Traceback" in line for line in after), after
    assert after[-1].startswith("insights: insights run interrupted (Ctrl-C); nothing half-written is visible")
    time.sleep(1)
    assert not _still_running(str(tmp_path / "prefect-home")), "the temporary Prefect server outlived the run"

    healed = subprocess.run([*RUN, "--data-dir", str(data_dir)], cwd=ROOT, env=environment(tmp_path, way),
                            capture_output=True, text=True, timeout=300)
    clean_dir, clean = clean_run(way)
    assert healed.returncode == 0, healed.stderr
    assert len(healed.stderr.splitlines()) <= len(clean.stderr.splitlines()) + 5, healed.stderr
    assert "Traceback" not in healed.stderr
    name = Path(clean.stdout.split()[-1]).name
    assert (data_dir / "documents" / name).read_bytes() == (clean_dir / "documents" / name).read_bytes()


@pytest.mark.parametrize("way", list(WAYS))
def test_sigterm_ends_a_run_within_10_s_with_exit_143(tmp_path, way, request):
    code, took, _, after = run_until(tmp_path, tmp_path / "data", WAYS[way_of(request)]["building"], signal.SIGTERM, way)
    assert code == 143 and took < 10, (code, took, after)
    assert len(after) <= 3 and after[-1].startswith("insights: insights run interrupted (SIGTERM)"), after
    time.sleep(1)
    assert not _still_running(str(tmp_path / "prefect-home")), "the temporary Prefect server outlived the run"


@pytest.mark.parametrize("phase", ["landing", "building"])
@pytest.mark.parametrize("way", list(WAYS))
def test_sigkill_to_the_commands_group_ends_its_worker_at_once(tmp_path, phase, way, request):
    """What a scheduler or `kill -9 -- -PGID` does: the supervisor dies without a word; nothing of the
    command outlives it by a second (a worker left to unwind Prefect took up to 6)."""
    process, _ = started_until(tmp_path, tmp_path / "data", WAYS[way_of(request)][phase], way, start_new_session=True)
    assert _still_running(str(tmp_path / "prefect-home"))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    killed = time.monotonic()
    while _still_running(str(tmp_path / "prefect-home")) and time.monotonic() - killed < 1:
        time.sleep(0.1)
    assert not _still_running(str(tmp_path / "prefect-home")), "the command's worker outlived its supervisor by 1 s"


def _still_running(fragment: str) -> bool:
    for status in Path("/proc").glob("[0-9]*/environ"):
        try:
            if fragment.encode() in status.read_bytes():
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(("number", "code", "how"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_stops_the_server_in_one_line(sample_warehouse, number, code, how):
    from tests.test_server_http import real_server

    with real_server(sample_warehouse) as (_, process):
        process.send_signal(number)
        sent = time.monotonic()
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    assert process.returncode == code and took < 10
    assert err.splitlines()[-1] == f"insights: insights web stopped ({how})" and "Traceback" not in err
