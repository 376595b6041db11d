"""The command line: help everywhere, one-line errors with the right exit codes, results on stdout."""

import json

import pytest

from pipeline.cli import cli, main
from tests.instance import Instance


def call(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.mark.parametrize("command", [[], ["run"], ["export"], ["backfill"], ["sample"]])
def test_every_command_has_help(capsys, command):
    code, out, _ = call(capsys, *command, "--help")
    assert code == 0 and "Usage: insights" in out and len(out.splitlines()) > 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--from", "2025-02-30", "--to", "2025-03-01"], "is not a day of the calendar"),
        (["export", "--from", "31/01/2025"], "is not a day: write it as YYYY-MM-DD"),
        (["export", "--from", "2025-03-02", "--to", "2025-03-01"], "--from 2025-03-02 is after --to 2025-03-01"),
        (["backfill", "--from", "2025-03-02", "--to", "2025-03-01"], "is after --to"),
        (["run", "--source", "mysql://nowhere"], "unknown source 'mysql://nowhere'"),
        (["run", "--date", "yesterday"], "is not a day"),
        (["backfill", "--to", "2025-03-01"], "Missing option '--from'"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = call(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("insights: error: ") and message in err


def test_a_failed_run_is_one_line_and_exit_1(capsys, tmp_path):
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "_state.json").write_text("{ not json")
    code, _, err = call(capsys, "export", "--from", "2025-01-01", "--to", "2025-01-02", "--data-dir", str(tmp_path))
    assert code == 1 and len(err.splitlines()) == 1 and "JSONDecodeError" in err


def test_debug_shows_the_traceback(capsys, tmp_path):
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "_state.json").write_text("{ not json")
    code, _, err = call(capsys, "--debug", "export", "--from", "2025-01-01", "--to", "2025-01-02",
                        "--data-dir", str(tmp_path))
    assert code == 1 and "Traceback" in err


def test_export_writes_the_document_to_stdout(capsys, tmp_path):
    u = Instance()
    u.project("p")
    u.land(tmp_path)
    code, out, _ = call(capsys, "export", "--from", "2025-01-06", "--to", "2025-01-07", "--data-dir", str(tmp_path))
    assert code == 0
    assert [r["date"] for r in json.loads(out)["flagTrends"]] == ["2025-01-06T23:59:59.999Z", "2025-01-07T23:59:59.999Z"]


def test_export_writes_the_document_to_a_file(capsys, tmp_path):
    u = Instance()
    u.project("p")
    u.land(tmp_path)
    target = tmp_path / "out" / "doc.json"
    target.parent.mkdir()
    code, out, _ = call(capsys, "export", "--from", "2025-01-06", "--to", "2025-01-06", "--data-dir", str(tmp_path),
                        "--out", str(target))
    assert code == 0 and out.strip() == str(target)
    assert json.loads(target.read_text())["projectFlagTrends"][0]["project"] == "p"


def test_the_cli_reference_matches_the_help():
    from pathlib import Path

    from pipeline.cli import cli_reference

    reference = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert reference == cli_reference(), "docs/cli.md is stale: regenerate it with `insights reference > docs/cli.md`"
    documented = {line.split()[2] for line in reference.splitlines() if line.startswith("## insights ")}
    assert documented == set(cli.commands)


def test_an_unusable_data_directory_is_one_line_and_exit_2(capsys):
    code, _, err = call(capsys, "run", "--data-dir", "/proc/x/data")
    assert code == 2 and len(err.splitlines()) == 1 and "cannot use data directory /proc/x/data" in err


@pytest.mark.parametrize("command", [["export"], ["backfill", "--from", "2025-01-01", "--to", "2025-01-31"]])
def test_reading_a_data_directory_where_nothing_was_landed_is_one_line_exit_1_and_writes_nothing(
    capsys, tmp_path, command
):
    data_dir = tmp_path / "data"
    code, out, err = call(capsys, *command, "--data-dir", str(data_dir))
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err == (f"insights: error: data directory {data_dir} holds no landed data: run `insights run` first "
                   "(on the sample, or with --source for your Unleash), or pass the --data-dir it wrote\n")
    assert not data_dir.exists()
    data_dir.mkdir()
    assert call(capsys, *command, "--data-dir", str(data_dir))[0] == 1
    assert list(data_dir.iterdir()) == []


def test_a_busy_data_directory_is_one_line_and_exit_1(capsys, tmp_path):
    from tests.test_hostile import held_by_another_run

    u = Instance()
    u.project("p")
    u.land(tmp_path)
    capsys.readouterr()
    with held_by_another_run(tmp_path, "backfill --from 2025-01-01 --to 2025-01-31"):
        code, _, err = call(capsys, "export", "--from", "2025-01-01", "--to", "2025-01-02", "--data-dir", str(tmp_path))
    assert code == 1 and len(err.splitlines()) == 1 and "is in use by pid" in err and "--wait" in err


@pytest.mark.parametrize("command", [["run"], ["backfill", "--from", "2025-01-01", "--to", "2025-01-31"],
                                     ["export", "--from", "2025-01-01", "--to", "2025-01-31"]])
def test_a_busy_data_directory_during_a_first_landing_is_told_at_once_naming_the_run(tmp_path, command):
    """Nothing landed yet, a first run landing: every command says the directory is busy, and who holds
    it, before Prefect starts (a temporary Prefect server takes 8 to 20 s)."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.test_hostile import held_by_another_run

    with held_by_another_run(tmp_path, "run --date 2025-01-31"):
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *command,
                               "--data-dir", str(tmp_path)], cwd=Path(__file__).parents[1], capture_output=True,
                              text=True, timeout=60)
        took = time.monotonic() - began
    assert done.returncode == 1 and done.stdout == "" and took < 5, (took, done.stderr)
    [line] = done.stderr.splitlines()
    assert line.startswith(f"insights: error: data directory {tmp_path} is in use by pid ")
    assert "`run --date 2025-01-31` started" in line


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--date", "2999-01-01"], "2999-01-01 is in the future (today is "),
    (["sample", "--date", "2999-01-01"], "2999-01-01 is in the future"),
    (["run", "--date", "2023-12-31"], "--date 2023-12-31 is before the sample instance's first day, 2024-01-01"),
    (["sample", "--date", "1999-01-01"], "--date 1999-01-01 is before the sample instance's first day, 2024-01-01"),
])
def test_a_date_the_command_cannot_use_is_one_line_exit_2_before_anything_starts(capsys, tmp_path, args, message):
    out_dir = tmp_path / "written"
    code, out, err = call(capsys, *args, *(["--out", str(out_dir)] if args[0] == "sample" else
                                           ["--data-dir", str(out_dir)]))
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err, err
    assert "Error" not in err and not out_dir.exists()


def test_web_on_a_data_directory_that_is_not_there_is_one_line_exit_2(capsys, tmp_path):
    code, out, err = call(capsys, "web", "--data-dir", str(tmp_path / "typo"))
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{tmp_path / 'typo'} is not a directory: pass the data directory a run wrote" in err


def test_export_to_a_folder_that_is_not_there_is_one_line_exit_2_and_creates_nothing(capsys, tmp_path):
    u = Instance()
    u.project("p")
    u.land(tmp_path)
    capsys.readouterr()
    code, out, err = call(capsys, "export", "--data-dir", str(tmp_path), "--out", str(tmp_path / "typo" / "x.json"))
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert f"{tmp_path / 'typo'} is not a directory: create it first" in err
    assert not (tmp_path / "typo").exists()


def test_a_range_wholly_outside_the_warehouse_says_the_warehouses_days(capsys, tmp_path):
    u = Instance()
    u.project("p", created="2025-01-01T10:00")
    u.land(tmp_path, extracted_at="2025-01-08T00:00")
    call(capsys, "export", "--from", "2025-01-01", "--to", "2025-01-07", "--data-dir", str(tmp_path))
    code, out, err = call(capsys, "export", "--from", "2026-03-01", "--to", "2026-03-31", "--data-dir", str(tmp_path))
    assert code == 0 and json.loads(out)["flagTrends"] == []
    assert err == "insights: 2026-03-01 to 2026-03-31 holds no data: the warehouse holds 2025-01-01 to 2025-01-07\n"
    code, out, err = call(capsys, "export", "--from", "2025-01-05", "--to", "2025-01-06", "--data-dir", str(tmp_path))
    assert code == 0 and err == ""


def test_bare_insights_prints_the_help_with_every_command(capsys):
    code, out, err = call(capsys)
    assert code == 0 and err == "" and out.startswith("Usage: insights")
    assert all(f"  {name} " in out for name in cli.commands)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_is_taken_before_or_after_the_command(capsys, tmp_path, where):
    command = ["export", "--from", "2025-01-01", "--to", "2025-01-02", "--data-dir", str(tmp_path / "none")]
    code, _, err = call(capsys, *(["--debug", *command] if where == "before" else [*command, "--debug"]))
    assert code == 1 and "Traceback" in err and err.splitlines()[-1].startswith("insights: error: data directory")


@pytest.mark.parametrize(("source", "message"), [
    ("/no/such/dir", "source /no/such/dir: no such directory"),
    ("./pyproject.toml", "source ./pyproject.toml: is not a directory"),
])
def test_a_source_folder_that_is_not_there_says_so_in_one_line_exit_2(capsys, source, message):
    code, out, err = call(capsys, "run", "--source", source)
    assert code == 2 and out == "" and err.splitlines() == [f"insights: error: {message} (use `sample`, a "
                                                            "postgresql:// URL, an Unleash's https:// address or an "
                                                            "export directory)"]


def test_web_on_a_busy_port_is_one_line_and_exit_1_before_it_says_it_serves(capsys, tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("INSIGHTS_WEB_TOKENS", "a-token-long-enough-for-the-server")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = call(capsys, "web", "--data-dir", str(tmp_path), "--port", str(port))
    assert code == 1 and out == ""
    assert err.splitlines() == [f"insights: error: cannot listen on 127.0.0.1:{port}: Address already in use; another "
                                "process listens there: stop it, or pass --port another port"]


@pytest.mark.parametrize(("api_url", "message"), [
    (None, "insights serve needs a Prefect server to keep its schedule, and PREFECT_API_URL names none"),
    ("http://127.0.0.1:9/api", "no Prefect server answers at PREFECT_API_URL=http://127.0.0.1:9/api (ConnectError)"),
])
def test_serve_without_a_prefect_server_refuses_in_one_line_saying_how_to_start_one(tmp_path, api_url, message):
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    if api_url:
        environment["PREFECT_API_URL"] = api_url
    done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "serve", "--data-dir",
                           str(tmp_path)], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"insights: error: {message}") and "`prefect server start`" in done.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("INSIGHTS_UNLEASH_URL", "ftp://unleash.example.com", "INSIGHTS_UNLEASH_URL must be the web address of your Unleash"),
    ("INSIGHTS_UNLEASH_URL", "https://admin:secret@unleash.example.com", "no user, password, query or fragment"),
    ("INSIGHTS_CONSTANT_EVALUATIONS", "many", "INSIGHTS_CONSTANT_EVALUATIONS must be a whole number of 1 or more"),
])
def test_a_bad_setting_is_one_line_and_exit_2_before_any_work(capsys, tmp_path, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    code, out, err = call(capsys, "run", "--data-dir", str(tmp_path / "data"))
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err
    assert "secret" not in err and not (tmp_path / "data").exists()
