"""``python -m bench --tier s|m|l|xl``: measure the pipeline at a scale, against the floor of each figure.

The backfill's floor (``floor_publish``) writes what the build publishes: one DuckDB statement a
dataset over the lake's raw rows, each written by DuckDB's ``COPY`` in the warehouse's layout; the
scan floor before it (``floor``) only read the lake, and is reported beside. ``insights backfill``
is measured as a user runs it, with no Prefect server configured and against a standing one,
against the library's build; a year of the sample gives the same figures at a small size.

Prints a table (figure, value, floor, ratio, target) and writes it as JSON. Each step runs in its
own process so that its peak RSS is its own. A shared machine's speed drifts, so each timed step runs
``--repeats`` times (3 by default), alternating with the step it is compared with (the backfill with
its floor, the daily run on five years of history with the one on three months, each on a fresh
copy of its history), and the table shows the medians; the JSON keeps every run. Tiers: ``s`` (a
few minutes, for CI), ``m``, ``l`` (one year at 1 million hourly metric rows a day, 10,000 flags,
500 projects, 5,000 users, 1 million events) and ``xl`` (by hand: tier ``l`` at 3.6 million hourly
rows a day, Unleash's own roll-up limit; ``python -m bench.steps generate|floor|backfill`` step by
step, as docs/performance.md shows). The five years (``--history-years``) keep the
tier's flags, series and events a day; their hourly rows are the last 90 days', Unleash's daily
rows stand for the days before (a daily run reads no metrics row older than its usage window).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.instance import TIERS
from bench.steps import SAMPLE_YEAR_END, s3_server, standing_prefect

ROOT = Path(__file__).parents[1]
QUARTER = 90
"""Days of the short history the daily run is compared with, and of hourly rows in the long one."""
SERVED_CLIENTS = 16
BESIDE_RATE = 20
"""Requests started a second beside a backfill (a team using the page while it rebuilds)."""
SAMPLE_SERVED_SECONDS = 20
CLI_KINDS = {"none": "no Prefect server configured", "standing": "standing Prefect server"}
SERVED_SECONDS = {"s": 5, "m": 15, "l": 30}
"""How long the served document is measured, by tier (tier s runs in CI)."""


def step(name: str, **arguments) -> dict:
    """Run one step in a fresh process; its JSON result, with its wall seconds and peak RSS (MiB)."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([sys.executable, "-m", "bench.steps", name, json.dumps(arguments)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=err, text=True)
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # rusage of this process alone
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            raise SystemExit(f"bench step {name} failed:\n{err.read()[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - began, 3)
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), default="s")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default bench-<tier>.json)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--skip-postgres", action="store_true", help="leave out the extraction figure")
    parser.add_argument("--history-years", type=int, default=5,
                        help="years of history the daily run is measured with, against three months")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each timed step; the table shows their median")
    args = parser.parse_args()
    if not args.skip_postgres and (missing := extraction_needs()):
        parser.error(f"the extraction figure needs {missing}; or pass --skip-postgres to leave it out")
    tier = TIERS[args.tier]
    work = args.work or Path(tempfile.mkdtemp(prefix=f"insights-bench-{args.tier}-"))
    work.mkdir(parents=True, exist_ok=True)
    year = work / "year"
    figures, details = [], {}
    out = args.out or Path(f"bench-{args.tier}.json")
    try:
        log = lambda message: print(f"[bench {args.tier}] {message}", file=sys.stderr, flush=True)  # noqa: E731
        log(f"generating {tier.days} days at {tier.rows_per_day:,} hourly rows a day")
        generated = details["generate"] = step("generate", data_dir=str(year), tier=args.tier, days=tier.days)
        os.sync()  # the generator's writes reach the disk now, not during the measured steps
        log(f"landed in {generated['seconds']:.1f} s; the floor and the backfill, {args.repeats} times each, in turn")
        floors, scan_floors, backfills, trend_backfills = [], [], [], []
        details.update(floor=floors, scan_floor=scan_floors, backfill=backfills, backfill_trends=trend_backfills)
        for _ in range(args.repeats):
            floors.append(step("floor_publish", data_dir=str(year)))
            scan_floors.append(step("floor", data_dir=str(year)))
            trend_backfills.append(step("backfill", data_dir=str(year), datasets="trends"))
            backfills.append(step("backfill", data_dir=str(year)))
        peak = max(backfill["peak_rss_mib"] for backfill in backfills)
        figures.append(("full backfill (s)", median(backfills), median(floors), "<= 1.0 x floor"))
        figures.append(("full backfill against the scan floor (s)", median(backfills), median(scan_floors),
                        "reported (the floor until 2026-12-06)"))
        figures.append(("full backfill peak RSS (MiB)", peak, None, "<= 1024"))
        figures.append(("full backfill, the seven trends alone (s)", median(trend_backfills), median(floors), "reported"))
        figures.append(("flag_usage_daily adds to the backfill (s)", median(backfills) - median(trend_backfills), None,
                        "reported"))
        figures.append(("full backfill, trends alone, peak RSS (MiB)", max(b["peak_rss_mib"] for b in trend_backfills),
                        None, "reported"))
        log("insights backfill through the command line: with no Prefect server configured, then a standing one")
        prefect_home = str(work / "prefect-home")
        clis = cli_backfills(step, str(year), prefect_home, args.repeats, details, "")
        for kind in ("none", "standing"):
            figures.append((f"insights backfill, {CLI_KINDS[kind]} (s)", statistics.median(c["cli_seconds"] for c in clis[kind]),
                            median(backfills), "<= 1.1 x library"))
        figures.append(("insights backfill peak RSS (MiB)", max(c["cli_peak_rss_mib"] for k in clis for c in clis[k]),
                        None, "<= 1024"))
        log("a year of the sample: the library's backfill and insights backfill both ways, and ranges served")
        sample = work / "sample-year"
        details["sample_year"] = step("sample_year", data_dir=str(sample))
        sample_end = SAMPLE_YEAR_END.isoformat()
        sample_backfills = details["sample_year_backfill"] = [step("backfill", data_dir=str(sample), last=sample_end)
                                                              for _ in range(args.repeats)]
        sample_clis = cli_backfills(step, str(sample), prefect_home, args.repeats, details, "sample_year_", sample_end)
        figures.append(("sample year: library backfill (s)", median(sample_backfills), None, "reported"))
        for kind in ("none", "standing"):
            cli = statistics.median(c["cli_seconds"] for c in sample_clis[kind])
            figures.append((f"sample year: insights backfill, {CLI_KINDS[kind]} (s)", cli, None, "reported"))
            figures.append((f"sample year: insights backfill, {CLI_KINDS[kind]}, less the library's (s)",
                            cli - median(sample_backfills), None, "<= 3"))
        sample_served = details["sample_year_serve_ranges"] = step("serve_ranges", data_dir=str(sample),
                                                                   seconds=SAMPLE_SERVED_SECONDS, clients=SERVED_CLIENTS)
        figures.append((f"sample year: random ranges to {SERVED_CLIENTS} clients, 99th percentile (ms)",
                        sample_served["p99_ms"], None, "<= 500"))
        figures.append((f"sample year: random ranges to {SERVED_CLIENTS} clients, errors", sample_served["errors"], None,
                        "0"))
        stored = details["sizes"] = step("sizes", data_dir=str(year))["bytes"]
        figures.append(("flag_usage_daily on disk (MB)", stored["flag_usage_daily"] / 1e6, None, "reported"))
        log(f"backfill {median(backfills):.1f} s ({median(trend_backfills):.1f} s for the trends alone), "
            f"floor {median(floors):.1f} s, peak RSS {peak:.0f} MiB; export")
        exports = details["export"] = [step("export", data_dir=str(year)) for _ in range(args.repeats)]
        figures.append(("export of one year (s)", median(exports), None, "<= 1"))
        pages = details["dashboard"] = [step("dashboard_file", data_dir=str(year)) for _ in range(args.repeats)]
        figures.append(("dashboard file of one year (s)", median(pages), None, "reported"))
        figures.append(("dashboard file of one year (MB)", pages[0]["bytes"] / 1e6, None, "<= 3"))
        log(f"the one-year document served warm to {SERVED_CLIENTS} clients for {SERVED_SECONDS[args.tier]} s")
        served = details["serve"] = step("serve", data_dir=str(year), seconds=SERVED_SECONDS[args.tier], clients=SERVED_CLIENTS)
        figures.append(("served one-year document, median (ms)", served["median_ms"], None, "<= 50"))
        figures.append(("served one-year document, 99th percentile (ms)", served["p99_ms"], None, "<= 200"))
        figures.append(("served one-year document, errors", served["errors"], None, "0"))
        log(f"random ranges, mostly never asked before, to {SERVED_CLIENTS} clients; then {BESIDE_RATE} a second "
            "beside a full backfill")
        spread = details["serve_ranges"] = step("serve_ranges", data_dir=str(year), seconds=SERVED_SECONDS[args.tier],
                                                clients=SERVED_CLIENTS)
        figures.append((f"served random ranges, {SERVED_CLIENTS} clients, median (ms)", spread["median_ms"], None, "<= 100"))
        figures.append((f"served random ranges, {SERVED_CLIENTS} clients, 99th percentile (ms)", spread["p99_ms"], None,
                        "<= 300"))
        figures.append((f"served random ranges, {SERVED_CLIENTS} clients, errors", spread["errors"], None, "0"))
        beside = details["serve_beside_backfill"] = step("serve_beside_backfill", data_dir=str(year), rate=BESIDE_RATE)
        figures.append(("full backfill beside the served requests (s)", beside["backfill_seconds"], median(backfills),
                        "<= 1.25 x alone"))
        figures.append((f"served random ranges, {BESIDE_RATE} a second beside a backfill, 99th percentile (ms)",
                        beside["p99_ms"], None, "<= 1000"))
        figures.append((f"served random ranges, {BESIDE_RATE} a second beside a backfill, errors", beside["errors"], None,
                        "0"))
        figures.append(("server peak RSS, random ranges and beside a backfill (MiB)",
                        max(spread["server_peak_rss_mib"], beside["server_peak_rss_mib"]), None, "<= 512"))
        log("the year, as daily runs leave it, mirrored to an S3 API server (moto's); then a daily run with its push, "
            "on copies of it")
        step("history", data_dir=str(year))
        with s3_server():
            url = "s3://insights-bench/year"
            mirrored = details["mirror_year"] = step("mirror_year", data_dir=str(year), mirror_to=url)
            figures.append(("mirror of the year: files uploaded", mirrored["files"], None, "reported"))
            figures.append(("mirror of the year: MB uploaded", mirrored["bytes"] / 1e6, None, "reported"))
            figures.append(("mirror of the year (s)", mirrored["seconds"], None, "reported"))
            figures.append(("mirror of the year, largest file (MB)", mirrored["largest_bytes"] / 1e6, None, "reported"))
            figures.append(("mirror of the year, peak RSS (MiB)", mirrored["peak_rss_mib"], None,
                            "reported (streamed: not a file's size)"))
            pushes = details["daily_mirror"] = []
            for _ in range(args.repeats):
                step("reset_pointer", mirror_to=url, text=mirrored["pointer"])
                copy = work / "year-daily"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(year, copy)
                os.sync()
                pushes.append(step("daily", data_dir=str(copy), tier=args.tier, days=tier.days, mirror_to=url))
                shutil.rmtree(copy)
        shares = [p["step_seconds"]["mirror"] / sum(p["step_seconds"].values()) for p in pushes]
        figures.append(("daily run's mirror step: files uploaded", statistics.median(p["mirrored"]["files"] for p in pushes),
                        None, "reported"))
        figures.append(("daily run's mirror step (s)", median_part(pushes, "mirror"), None, "reported"))
        figures.append(("daily run's mirror step, share of the run", statistics.median(shares), None, "<= 0.2"))
        log(f"mirror of the year: {mirrored['files']} files, {mirrored['bytes'] / 1e6:.0f} MB in {mirrored['seconds']:.1f} s; "
            f"a daily run's push {median_part(pushes, 'mirror'):.2f} s, {statistics.median(shares):.0%} of the run")
        years = args.history_years
        span = f"{years} year{'s' if years != 1 else ''}"
        log(f"{span} of history (hourly rows for the last {QUARTER} days, Unleash's daily rows before) and "
            f"{QUARTER} days, each built as daily runs leave it; then daily runs on copies of each, in turn")
        long, quarter = work / "long", work / "quarter"
        long_days = years * 365 + years // 4
        step("generate", data_dir=str(long), tier=args.tier, days=long_days, hourly_days=QUARTER)
        step("history", data_dir=str(long))
        step("generate", data_dir=str(quarter), tier=args.tier, days=QUARTER)
        step("history", data_dir=str(quarter))
        dailies = {"long": [], "quarter": [], "long-trends": []}
        details.update(daily=dailies["long"], daily_three_months=dailies["quarter"], daily_trends=dailies["long-trends"])
        for _ in range(args.repeats):
            for name, history, days, datasets in (("long", long, long_days, "all"), ("quarter", quarter, QUARTER, "all"),
                                                  ("long-trends", long, long_days, "trends")):
                copy = work / f"{name}-daily"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(history, copy)
                os.sync()
                dailies[name].append(step("daily", data_dir=str(copy), tier=args.tier, days=days, datasets=datasets))
                if name == "long" and "flags" not in stored:
                    stored["flags"] = step("sizes", data_dir=str(copy))["bytes"]["flags"]
                shutil.rmtree(copy)
        daily, daily_quarter = median(dailies["long"]), median(dailies["quarter"])
        log(f"daily run {daily:.2f} s with {span} of history, {daily_quarter:.2f} s with three months")
        figures.append((f"daily run, {span} of history (s)", daily, None, "<= 5"))
        figures.append(("daily run, three months (s)", daily_quarter, None, ""))
        figures.append((f"daily run, {span} / three months", daily / daily_quarter, None, "<= 1.2"))
        for part in ("land", "build", "document"):
            figures.append((f"daily run, {span}, {part} (s)", median_part(dailies["long"], part),
                            median_part(dailies["quarter"], part), "reported (floor: three months)"))
        figures.append((f"daily run, {span}, the seven trends alone (s)", median(dailies["long-trends"]), None,
                        "reported"))
        figures.append(("the flag datasets add to the daily run (s)", daily - median(dailies["long-trends"]), None,
                        "reported"))
        figures.append(("daily run peak RSS (MiB)", max(d["peak_rss_mib"] for d in dailies["long"]), None, "reported"))
        figures.append(("daily run, the seven trends alone, peak RSS (MiB)",
                        max(d["peak_rss_mib"] for d in dailies["long-trends"]), None, "reported"))
        figures.append(("flags table on disk (MB)", stored["flags"] / 1e6, None, "reported"))
        log(f"a daily run from the Admin API of a stand-in Unleash serving the {QUARTER}-day instance "
            f"({tier.flags:,} flags; bench/standin.py says why its figures carry over)")
        api = details["api_daily"] = step("api_daily", data_dir=str(quarter), work_dir=str(work))
        figures.append((f"daily run from the Admin API, {tier.flags:,} flags: requests", api["requests"]["requests"], None,
                        "reported"))
        figures.append(("daily run from the Admin API: MB read", api["requests"]["bytes"] / 1e6, None, "reported"))
        figures.append(("daily run from the Admin API: landing (s)", api["step_seconds"]["land"], None, "reported"))
        figures.append(("daily run from the Admin API (s)", sum(api["step_seconds"].values()), None, "reported"))
        startup = step("prefect_startup")
        figures.append(("Prefect start-up, temporary server (s)", startup["wall_seconds"], None, "reported apart"))
        if not args.skip_postgres:
            log("extraction from PostgreSQL")
            extracted = details["extraction"] = step("extract", work_dir=str(work), tier=args.tier, repeats=args.repeats)
            rows = extracted["rows"]
            figures.append(("extraction (rows/s)", rows / extracted["extraction_seconds"],
                            rows / extracted["copy_seconds"], ">= 0.7 x COPY"))
        write(out, args, figures, details)
    except SystemExit as failure:  # a step failed: what was measured before it is kept
        if figures or details:
            write(out, args, figures, details, failed=str(failure.code))
            print(f"figures so far written to {out}", file=sys.stderr)
        raise
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def cli_backfills(step, data_dir: str, prefect_home: str, repeats: int, details: dict, prefix: str,
                  last: str | None = None) -> dict[str, list[dict]]:
    """``insights backfill`` of a data directory ``repeats`` times each way: with no Prefect server
    configured, and against a standing one (started once, outside the timing); kept in ``details``."""
    clis = {"none": [], "standing": []}
    details.update({f"{prefix}cli_backfill_none": clis["none"], f"{prefix}cli_backfill_standing": clis["standing"]})
    ending = {"last": last} if last else {}
    for _ in range(repeats):
        clis["none"].append(step("cli_backfill", data_dir=data_dir, prefect_home=prefect_home, **ending))
    with standing_prefect(prefect_home) as api_url:
        for _ in range(repeats):
            clis["standing"].append(step("cli_backfill", data_dir=data_dir, prefect_home=prefect_home, api_url=api_url,
                                         **ending))
    return clis


def extraction_needs() -> str | None:
    """What the extraction figure needs and this installation lacks: the test extras' PostgreSQL
    driver, and PostgreSQL's server binaries; None when both are here."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the test extras (psycopg): pip install -e '.[test]'"
    from tests.postgres_server import binaries

    return None if binaries() else "PostgreSQL's server (initdb, pg_ctl): apt-get install postgresql"


def write(out: Path, args: argparse.Namespace, figures: list[tuple], details: dict, failed: str | None = None) -> None:
    """Write the report as JSON and print its table."""
    report = {
        "tier": args.tier, "scale": TIERS[args.tier].__dict__,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "figures": [{"figure": f, "value": round(v, 3), "floor": None if fl is None else round(fl, 3),
                     "ratio": None if fl is None else round(v / fl, 3), "target": t} for f, v, fl, t in figures],
        "repeats": args.repeats,
        "details": details,
        **({"failed": failed} if failed else {}),
    }
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report["figures"]))
    print(f"written to {out}")


def median(results: list[dict]) -> float:
    """The median of the steps' in-process seconds."""
    return statistics.median(result["seconds"] for result in results)


def median_part(dailies: list[dict], part: str) -> float:
    """The median seconds of one part of the daily runs (land, build, document)."""
    return statistics.median(daily["step_seconds"][part] for daily in dailies)


def table(figures: list[dict]) -> str:
    """The figures as a Markdown table."""
    lines = ["| figure | value | floor | ratio | target |", "|---|---:|---:|---:|---|"]
    for f in figures:
        floor = "" if f["floor"] is None else f"{f['floor']:,.2f}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        lines.append(f"| {f['figure']} | {f['value']:,.2f} | {floor} | {ratio} | {f['target']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
