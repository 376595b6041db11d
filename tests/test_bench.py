"""The benchmark works: tier s, end to end (CI runs only this tier; the README shows tier l)."""

import contextlib
import json
import subprocess
import sys
from pathlib import Path


def test_the_benchmark_runs_at_tier_s_and_reports_every_figure(tmp_path, postgres):
    out = tmp_path / "bench-s.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--tier", "s", "--repeats", "1", "--history-years", "1",
                           "--out", str(out)],
                          cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    figures = {f["figure"]: f for f in report["figures"]}
    assert set(figures) == {
        "full backfill (s)", "full backfill peak RSS (MiB)", "export of one year (s)", "daily run, 1 year of history (s)",
        "daily run, three months (s)", "daily run, 1 year / three months",
        *(f"daily run, 1 year, {part} (s)" for part in ("land", "build", "document")),
        "Prefect start-up, temporary server (s)", "extraction (rows/s)", "served one-year document, median (ms)",
        "served one-year document, 99th percentile (ms)", "served one-year document, errors",
        "dashboard file of one year (s)", "dashboard file of one year (MB)",
        "full backfill, the seven trends alone (s)", "flag_usage_daily adds to the backfill (s)",
        "full backfill, trends alone, peak RSS (MiB)", "flag_usage_daily on disk (MB)",
        "daily run, 1 year, the seven trends alone (s)", "the flag datasets add to the daily run (s)",
        "daily run peak RSS (MiB)", "daily run, the seven trends alone, peak RSS (MiB)", "flags table on disk (MB)",
        "served random ranges, 16 clients, median (ms)", "served random ranges, 16 clients, 99th percentile (ms)",
        "served random ranges, 16 clients, errors", "full backfill beside the served requests (s)",
        "served random ranges, 20 a second beside a backfill, 99th percentile (ms)",
        "served random ranges, 20 a second beside a backfill, errors",
        "server peak RSS, random ranges and beside a backfill (MiB)", "full backfill against the scan floor (s)",
        "insights backfill, standing Prefect server (s)", "insights backfill, no Prefect server configured (s)",
        "insights backfill peak RSS (MiB)", "sample year: library backfill (s)",
        *(f"sample year: insights backfill, {kind}{less} (s)" for kind in ("no Prefect server configured",
                                                                           "standing Prefect server")
          for less in ("", ", less the library's")),
        "sample year: random ranges to 16 clients, 99th percentile (ms)", "sample year: random ranges to 16 clients, errors",
        "daily run from the Admin API, 300 flags: requests", "daily run from the Admin API: MB read",
        "daily run from the Admin API: landing (s)", "daily run from the Admin API (s)",
        "mirror of the year: files uploaded", "mirror of the year: MB uploaded", "mirror of the year (s)",
        "mirror of the year, largest file (MB)", "mirror of the year, peak RSS (MiB)",
        "daily run's mirror step: files uploaded", "daily run's mirror step (s)", "daily run's mirror step, share of the run",
    }
    served = report["details"]["serve"]
    assert served["status"] == 200 and served["errors"] == 0 and served["requests"] > 16
    for spread in (report["details"]["serve_ranges"], report["details"]["serve_beside_backfill"],
                   report["details"]["sample_year_serve_ranges"]):
        assert spread["errors"] == 0 and spread["requests"] > 16 and spread["server_peak_rss_mib"] > 0
    assert report["details"]["serve_beside_backfill"]["backfill_seconds"] > 0
    assert report["details"]["sample_year"]["partitions"] == 366 + 53 + 12  # 2024's days, ISO weeks 2024-01..2025-01, months
    assert {c["prefect"] for c in report["details"]["cli_backfill_none"]} == {"none configured"}
    assert figures["full backfill (s)"]["floor"] > 0 and figures["extraction (rows/s)"]["ratio"] > 0
    assert report["details"]["generate"]["rows"]["client_metrics"] > 28 * 24 * 900  # ~1,000 distinct rows an hour
    assert "| full backfill (s) |" in done.stdout
    dailies = report["details"]["daily"] + report["details"]["daily_three_months"]
    assert [d["partitions"] for d in dailies] == [4, 4]  # the new day, its week and month, the flags tables
    mirrored = report["details"]["mirror_year"]
    assert mirrored["files"] > 100 and mirrored["state"] == 1
    pushed = report["details"]["daily_mirror"][0]["mirrored"]  # the new day's lake files, its rebuilt partitions
    assert pushed["state"] == 2 and 0 < pushed["files"] < mirrored["files"] / 4
    api = report["details"]["api_daily"]  # the stand-in's 300 flags: 3 pages of the sweep, and a request a flag evaluated
    assert 3 < api["requests"]["requests"] < api["first_run_requests"]["requests"] and api["rows"]["client_metrics"] > 0


def test_a_step_that_fails_keeps_the_figures_measured_before_it(tmp_path, monkeypatch):
    import pytest

    import bench.__main__ as bench

    def step(name: str, **_) -> dict:
        if name == "export":
            raise SystemExit("bench step export failed:\nboom")
        return {"seconds": {"floor_publish": 2.0, "backfill": 3.0}.get(name, 1.0), "peak_rss_mib": 100.0,
                "rows": {"client_metrics": 1}, "bytes": {"flag_usage_daily": 1_000_000}, "cli_seconds": 4.0,
                "step_seconds": {"land": 1.0, "build": 1.0, "document": 1.0}, "median_ms": 1.0, "p99_ms": 2.0,
                "errors": 0, "cli_peak_rss_mib": 100.0}

    monkeypatch.setattr(bench, "step", step)
    monkeypatch.setattr(bench, "standing_prefect", lambda home: contextlib.nullcontext("http://127.0.0.1:9/api"))
    out = tmp_path / "bench.json"
    monkeypatch.setattr(sys, "argv", ["bench", "--tier", "s", "--out", str(out), "--skip-postgres", "--repeats", "1"])
    with pytest.raises(SystemExit):
        bench.main()
    report = json.loads(out.read_text())
    figures = {f["figure"]: f for f in report["figures"]}
    assert figures["full backfill (s)"]["value"] == 3.0 and figures["full backfill (s)"]["ratio"] == 1.5
    assert report["failed"].startswith("bench step export failed") and "export" not in report["details"]
