"""The ``insights`` command line: a thin layer over the library and its Prefect flows.

Results go to stdout; progress and logs to stderr. A usage error (a bad date, ``--from`` after
``--to``, an unknown source) is one line on stderr and exit code 2; a failed run is one line and
exit code 1; a run or backfill whose work is committed but whose mirror failed one line and exit
code 3; Ctrl-C or SIGTERM one line and exit 130 or 143 (``pipeline.interrupts``); ``--debug``,
before or after the command, adds the traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

from pipeline import calendar, interrupts
from pipeline.lock import DataDirBusy, DataDirUnusable, exclusive, require_free, usable_data_dir

log = logging.getLogger("pipeline.cli")

DEFAULT_DATA_DIR = "data"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CannotServe(RuntimeError):
    """``serve`` cannot start: the Prefect server it needs is missing."""


class _StderrHandler(logging.StreamHandler):
    """Logs to whatever ``sys.stderr`` is when a record is emitted (it may be replaced meanwhile)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


class Day(click.ParamType):
    """A UTC day written YYYY-MM-DD; ``past``: not after today (UTC)."""

    name = "YYYY-MM-DD"

    def __init__(self, past: bool = False):
        self.past = past

    def convert(self, value, param, ctx) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            day = calendar.parse_day(value)
        except calendar.CalendarError as error:
            self.fail(str(error), param, ctx)
        if self.past and day > calendar.today():
            self.fail(f"{day.isoformat()} is in the future (today is {calendar.today().isoformat()} UTC): "
                      "give today or an earlier day", param, ctx)
        return day


DAY, PAST_DAY = Day(), Day(past=True)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    envvar="INSIGHTS_DATA_DIR",
    show_default=True,
    help="Where the lake, warehouse, documents and run manifests live (env INSIGHTS_DATA_DIR).",
)


class MirrorURL(click.ParamType):
    """An ``s3://bucket/prefix`` URL."""

    name = "s3://BUCKET/PREFIX"

    def convert(self, value, param, ctx) -> str:
        from pipeline.mirror.store import MirrorError, parse_url

        try:
            parse_url(value)
        except MirrorError as error:
            self.fail(str(error), param, ctx)
        return value


mirror_option = click.option(
    "--mirror", "mirror_to", type=MirrorURL(), envvar="INSIGHTS_MIRROR", metavar="s3://BUCKET/PREFIX",
    help="Mirror the data directory to S3 or an S3-compatible store (env INSIGHTS_MIRROR): an empty directory "
    "is restored from it first, each commit pushed after; credentials from the AWS chain, an endpoint in "
    "AWS_ENDPOINT_URL. A failed push is one line and exit code 3, the local commit kept. [default: none]",
)


wait_option = click.option(
    "--wait", "wait_seconds", type=click.FloatRange(0), default=0, show_default=True,
    help="Seconds to wait for another run holding the data directory before giving up.",
)


def _logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[_StderrHandler()],
        force=True,
    )
    for name in ("httpx", "botocore", "boto3"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def _debug_later(ctx: click.Context, _param, debug: bool) -> None:
    if debug:
        ctx.find_root().obj["debug"] = True
        _logging(True)


DEBUG_HELP = "Show tracebacks and debug logs."
debug_option = click.option("--debug", is_flag=True, expose_value=False, callback=_debug_later, help=DEBUG_HELP)
"""``--debug`` after a command's name too, where a user also puts it."""


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Open Unleash Insights: rebuild Unleash's instance insights from its raw data.

    Land raw Unleash data in a Parquet lake, compute the seven insight trends into a Parquet
    warehouse, and write the JSON document of GET /api/admin/insights.
    """
    if ctx.invoked_subcommand is None:  # bare `insights`: the help, commands listed
        click.echo(ctx.get_help())
        ctx.exit(0)
    ctx.obj = {"debug": debug}
    _logging(debug)


@contextmanager
def progress_bar(shown: bool) -> Iterator[Callable[[int, int], None]]:
    """A bar of partitions built on stderr (hidden unless ``shown``), told (more, of how many)."""
    with ExitStack() as stack:
        bars: list = []

        def progress(more: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(click.progressbar(length=total, label="partitions", file=sys.stderr,
                                                                  hidden=not shown)))
            bars[0].update(more)
        yield progress


def _in_process(command: str, runner: str = "threads") -> bool:
    """Whether ``command`` runs in this process: with no Prefect API configured (a flow would wait
    for a temporary Prefect server, whose runs die with it) and threads to run on; said in one line."""
    from pipeline.runs import prefect_api

    if prefect_api() or runner != "threads":
        return False
    log.info("%s runs in this process: no Prefect API is configured (set PREFECT_API_URL, e.g. to a "
             "`prefect server start`, to record runs in Prefect)", command)
    return True


def _prefect_terminal(ctx: click.Context, failures: bool = True) -> None:
    """Prefect's logs on the terminal: one line per failure unless --debug (tracebacks stay in the run's
    logs); ``failures`` False: none, for a command whose own error line says its run failed. No link
    to a flow run on a temporary Prefect server (none configured), which ends with the command."""
    from pipeline.runs import prefect_api

    if not ctx.find_root().obj["debug"]:
        from flows import terminal_without_tracebacks

        terminal_without_tracebacks(failures, links=prefect_api() is not None)


@cli.command(context_settings=CONTEXT)
@debug_option
@click.option(
    "--source",
    default="sample",
    envvar="INSIGHTS_SOURCE",
    show_default=True,
    help="`sample`, a postgresql:// URL (password there or in PGPASSWORD), an Unleash's https:// address "
    "(its Admin API; an admin token in INSIGHTS_UNLEASH_TOKEN or INSIGHTS_UNLEASH_TOKEN_FILE), or an export "
    "directory (env INSIGHTS_SOURCE).",
)
@data_dir_option
@click.option("--date", "date", type=PAST_DAY, help="The logical date (UTC) to build up to. [default: today]")
@click.option("--seed", type=int, default=1, show_default=True, help="The sample instance's seed.")
@wait_option
@mirror_option
@click.pass_context
def run(ctx: click.Context, source: str, data_dir: Path, date: dt.date | None, seed: int, wait_seconds: float,
        mirror_to: str | None) -> None:
    """Land raw data, build every missing or stale partition, write the month's document and page.

    With a Prefect API configured (PREFECT_API_URL, or the active Prefect profile), runs the
    `insights-run` Prefect flow, recorded there; with none, the same steps in this process (a
    temporary Prefect server would take seconds to start and keep nothing). Prints the paths of
    the dashboard page (one file that opens from disk) and of the JSON document.
    """
    from pipeline.sources import open_source
    from pipeline.sources.postgres import without_password

    require_free(data_dir, wait_seconds)
    as_of = date or calendar.today()
    open_source(source, as_of, seed)
    usable_data_dir(data_dir)
    if source.startswith(("postgresql://", "postgres://")):
        # the password travels in the environment, never as a (recorded) flow parameter
        source, password = without_password(source)
        if password:
            os.environ["PGPASSWORD"] = password
    with _shown(lambda result: click.echo(f"{result['dashboard']}\n{result['document']}")) as show:
        if _in_process("insights run"):
            from pipeline import runs

            show(runs.run(runs.Steps(), as_of, source, str(data_dir), seed, wait_seconds, mirror_to))
        else:
            from flows.run import insights_run

            _prefect_terminal(ctx, failures=False)
            show(insights_run(date=as_of, source=source, data_dir=str(data_dir), seed=seed, wait_seconds=wait_seconds,
                              mirror=mirror_to))


@contextmanager
def _shown(show: Callable[[dict], None]) -> Iterator[Callable[[dict], None]]:
    """``show`` for a run's result, also where its mirror failed after the work was done (then the
    failure goes on, for its one line and exit code)."""
    from pipeline.mirror import MirrorFailed

    try:
        yield show
    except MirrorFailed as failed:
        show(failed.result)
        raise


@cli.command(context_settings=CONTEXT)
@debug_option
@click.option("--from", "first", type=DAY, help="First day of the range. [default: --to minus one month]")
@click.option("--to", "last", type=DAY, help="Last day of the range (included). [default: today]")
@data_dir_option
@click.option("--out", default="-", show_default=True, help="File to write to, or - for stdout.")
@click.option("--format", "output", type=click.Choice(["json", "html"]), default="json", show_default=True,
              help="json: the insights document; html: the dashboard as one self-contained file.")
@wait_option
def export(first: dt.date | None, last: dt.date | None, data_dir: Path, out: str, output: str,
           wait_seconds: float) -> None:
    """Write the insights document, or the dashboard page, of a date range (both ends included).

    Partitions the range needs and the warehouse lacks are built from the lake first. The page
    opens from disk with no server and no network.
    """
    from pipeline import dashboard, document, job

    default_first, last = calendar.default_range(last)
    first = first or default_first
    calendar.check_range(first, last)
    if out != "-" and not Path(out).absolute().parent.is_dir():
        raise click.BadParameter(f"{Path(out).absolute().parent} is not a directory: create it first", param_hint="--out")
    require_free(data_dir, wait_seconds)
    job.require_landed(data_dir)
    with exclusive(data_dir, f"export --from {first.isoformat()} --to {last.isoformat()}", wait_seconds):
        result = job.export(data_dir, first, last)
        text = dashboard.range_page(data_dir, first, last, result) if output == "html" else document.text(result)
    committed = job.committed_now(data_dir)
    if committed.last_day is None or last < committed.first_day or first > committed.last_day:
        holds = f"{committed.first_day} to {committed.last_day}" if committed.last_day else "no day yet"
        click.echo(f"insights: {first} to {last} holds no data: the warehouse holds {holds}", err=True)
    if out == "-":
        click.echo(text, nl=False)
    elif output == "html":
        dashboard.write_file(data_dir, Path(out).absolute(), text)
        click.echo(out)
    else:
        document.write(data_dir, Path(out).absolute(), result)
        click.echo(out)


@cli.command(context_settings=CONTEXT)
@debug_option
@click.option("--from", "first", type=DAY, required=True, help="First day to recompute.")
@click.option("--to", "last", type=DAY, required=True, help="Last day to recompute (included).")
@data_dir_option
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Tasks (runs of months) built at once (threads, or local Dask worker processes).")
@click.option("--task-runner", "runner", type=click.Choice(["threads", "dask"]), default="threads",
              show_default=True, envvar="INSIGHTS_TASK_RUNNER", help="Where partition tasks run (env INSIGHTS_TASK_RUNNER).")
@click.option("--dask-address", envvar="INSIGHTS_DASK_ADDRESS",
              help="Scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (env INSIGHTS_DASK_ADDRESS); "
              "without it --task-runner dask starts a local cluster.")
@wait_option
@mirror_option
@click.pass_context
def backfill(ctx: click.Context, first: dt.date, last: dt.date, data_dir: Path, concurrency: int, runner: str,
             dask_address: str | None, wait_seconds: float, mirror_to: str | None) -> None:
    """Recompute every partition of a date range from the lake (no source is read).

    The shared histories once, then one task per run of months (about a month of a large
    instance's metrics each), published as one commit. With a Prefect API configured (or --task-runner
    dask), runs the `insights-backfill` Prefect flow, recorded there; with none, the same steps in
    this process. Idempotent: the same range gives the same bytes.
    """
    from pipeline import job

    calendar.check_range(first, last)
    require_free(data_dir, wait_seconds)
    if not mirror_to:  # with one, an empty directory is restored first
        job.require_landed(data_dir)
    usable_data_dir(data_dir)
    said = _shown(lambda result: click.echo(f"{result['partitions']} partitions rebuilt; manifest {result['manifest']}"))
    if _in_process("insights backfill", runner):
        from pipeline import runs

        with said as show, progress_bar(True) as progress:
            show(runs.backfill(runs.Steps(concurrency), first, last, str(data_dir), progress, wait_seconds, mirror_to))
        return
    from flows.backfill import insights_backfill, shared_prefect_api, task_runner

    _prefect_terminal(ctx, failures=False)
    if runner == "dask" and not ctx.find_root().obj["debug"]:  # Dask's INFO lines, here and in its workers
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        for name in ("distributed", "prefect.task_runner.dask"):  # the latter links a dashboard it did not start
            logging.getLogger(name).setLevel(logging.WARNING)
    flow = insights_backfill.with_options(task_runner=task_runner(runner, dask_address, concurrency))
    with said as show, shared_prefect_api(runner == "dask"):
        show(flow(first=first, last=last, data_dir=str(data_dir), show_progress=True, wait_seconds=wait_seconds,
                  mirror=mirror_to))


@cli.command(context_settings=CONTEXT)
@debug_option
@click.option("--cron", default="30 0 * * *", show_default=True, help="When to run, as a cron expression in UTC.")
@click.option("--digest", "digest_period", type=click.Choice(["week", "day", "month", "off"]), default="week",
              show_default=True, envvar="INSIGHTS_DIGEST_PERIOD",
              help="How often the digest is sent (env INSIGHTS_DIGEST_PERIOD): Mondays, every day or the first of "
              "the month at 08:00 UTC; off registers none.")
@data_dir_option
@mirror_option
@click.pass_context
def serve(ctx: click.Context, cron: str, digest_period: str, data_dir: Path, mirror_to: str | None) -> None:
    """Serve the deployments `insights-run/daily` and `insights-digest/weekly` until stopped.

    Needs a running Prefect server (`prefect server start`, then PREFECT_API_URL), which keeps the
    schedules: without one that answers, it refuses to start. Each run builds up to the UTC day
    before its scheduled time; the source comes from INSIGHTS_SOURCE. The digest goes to the targets
    of INSIGHTS_DIGEST_URLS or INSIGHTS_DIGEST_CONFIG (see `insights digest`).
    """
    from flows.serve import prefect_server_problem, serve as serve_schedules

    problem = prefect_server_problem()
    if problem:
        raise CannotServe(problem)
    _prefect_terminal(ctx)
    serve_schedules(cron, str(data_dir.absolute()), None if digest_period == "off" else digest_period, mirror_to)


@cli.command(context_settings=CONTEXT)
@debug_option
@data_dir_option
@click.option("--period", type=click.Choice(["week", "day", "month"]), default="week", show_default=True,
              envvar="INSIGHTS_DIGEST_PERIOD",
              help="The period a digest covers: one is sent per ISO week, UTC day or month (env INSIGHTS_DIGEST_PERIOD).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="An Apprise configuration file of targets (env INSIGHTS_DIGEST_CONFIG), besides the Apprise "
              "URLs of INSIGHTS_DIGEST_URLS. URLs hold secrets: never on the command line.")
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it; nothing is recorded.")
def digest(data_dir: Path, period: str, config: Path | None, dry_run: bool) -> None:
    """Send what changed since the last digest: each project's technical debt (up, down), the new
    clean-up candidates by reason with their flags, the unknown flags, a link to the dashboard.

    Goes to every Apprise URL in INSIGHTS_DIGEST_URLS (Slack, Microsoft Teams, Discord, mailto://,
    json://...; spaces or commas between them) and in the --config file, once a period: a target
    that had the period's digest never gets it again, whatever the settings did in between. Prints
    a line per target reached; a target it cannot reach is one line on stderr, the run recorded as
    failed for the server's metrics, and exit code 1. Flags link to their page in Unleash
    where INSIGHTS_UNLEASH_URL is set; the dashboard is INSIGHTS_DASHBOARD_URL.
    """
    from pipeline import digest as digests

    if dry_run:
        click.echo(digests.preview(data_dir, period), nl=False)
        return
    try:
        _reached(digests.send(data_dir, period, config))
    except digests.Undelivered as undelivered:
        _reached(undelivered.result)
        raise


def _reached(result: dict) -> None:
    """A line per target the digest reached now or before (a target it could not reach is the error)."""
    for target, outcome in result["targets"].items():
        if outcome["status"] != "failed":
            click.echo(f"{outcome['service']} target {target}: {outcome['status']}")


@cli.command(context_settings=CONTEXT)
@debug_option
@data_dir_option
@click.option("--host", default="127.0.0.1", show_default=True, envvar="INSIGHTS_WEB_HOST",
              help="Address to listen on (env INSIGHTS_WEB_HOST); only this machine by default.")
@click.option("--port", type=click.IntRange(1, 65535), default=4243, show_default=True, envvar="INSIGHTS_WEB_PORT",
              help="Port to listen on (env INSIGHTS_WEB_PORT).")
@click.option("--max-connections", type=click.IntRange(1), default=1000, show_default=True,
              envvar="INSIGHTS_WEB_MAX_CONNECTIONS",
              help="Open connections at most; past it new clients get 503 (env INSIGHTS_WEB_MAX_CONNECTIONS). "
              "Lowered to fit the process's file limit.")
@click.option("--trusted-proxies", default="", envvar="INSIGHTS_WEB_TRUSTED_PROXIES",
              help="Addresses of the TLS proxies whose X-Forwarded-For and X-Forwarded-Proto are believed, "
              "comma-separated (env INSIGHTS_WEB_TRUSTED_PROXIES); behind one, the sign-in cookie is Secure. "
              "[default: none]")
@click.option("--mirror", "mirror_to", type=MirrorURL(), envvar="INSIGHTS_MIRROR", metavar="s3://BUCKET/PREFIX",
              help="Serve the state mirrored there (env INSIGHTS_MIRROR): an empty data directory is restored from "
              "it first, and a newer state pulled every INSIGHTS_MIRROR_FOLLOW_SECONDS (default 300) while this "
              "directory has no commits of its own. [default: none]")
def web(data_dir: Path, host: str, port: int, max_connections: int, trusted_proxies: str,
        mirror_to: str | None) -> None:
    """Serve the insights over HTTP until stopped: Unleash's endpoint, health, readiness, metrics.

    Routes: GET /api/admin/insights?from=&to=, /api/admin/insights/lifecycle?projects=,
    /api/insights/flags?project=&reason=&candidates=&format=, /health, /ready, /metrics and
    /openapi.yaml. Every route but /health and /ready needs a token, sent as
    `Authorization: <token>`: configure tokens in a file named by INSIGHTS_WEB_TOKENS_FILE (one a
    line) or in INSIGHTS_WEB_TOKENS, never on the command line. The server only reads the data
    directory, while runs and backfills write it; put a TLS proxy in front to serve it beyond this
    machine.
    """
    from pipeline.server import listen
    from pipeline.server.app import create_app
    from pipeline.server.tokens import Tokens

    if mirror_to:
        from pipeline.mirror.follow import follow

        follow(usable_data_dir(data_dir), mirror_to)
    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir} is not a directory: pass the data directory a run wrote",
                                 param_hint="--data-dir")

    proxies = [address.strip() for address in trusted_proxies.split(",") if address.strip()]
    app = create_app(data_dir.absolute(), Tokens.from_environment(), trusted_proxies=proxies)
    listening = listen.bound(host, port)
    limit = listen.connection_limit(max_connections)
    log.info("serving the insights of %s on http://%s:%d (at most %d connections)", data_dir, host, port, limit)
    listen.serve(app, listening, limit)


@cli.command(context_settings=CONTEXT)
@debug_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the sample's raw lake into (an export directory).")
@click.option("--date", "date", type=PAST_DAY, help="The day the sample's history runs up to. [default: today]")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed: the same seed gives the same bytes.")
def sample(out: Path, date: dt.date | None, seed: int) -> None:
    """Write the sample instance as an export directory (the lake's raw layout)."""
    from pipeline import job
    from pipeline.sources.sample import SampleSource

    source = SampleSource(date or calendar.today(), seed)
    with exclusive(out, "sample"):
        landing = job.land(out, source)
    click.echo(f"{out}: {sum(landing.rows.values())} rows in {len(landing.rows)} entities")


@cli.command(context_settings=CONTEXT)
@debug_option
def reference() -> None:
    """Print the command line reference (Markdown), as docs/cli.md holds it."""
    click.echo(cli_reference(), nl=False)


def cli_reference() -> str:
    """Every command's --help as Markdown: the text of docs/cli.md, which a test keeps in step."""
    root = click.Context(cli, info_name="insights", terminal_width=100, **cli.context_settings)
    parts = [
        "# insights: command line reference\n\n",
        "Generated from `--help` by `insights reference > docs/cli.md`; a test fails when it drifts.\n",
        f"\n## insights\n\n```text\n{cli.get_help(root)}\n```\n",
    ]
    for name, command in sorted(cli.commands.items()):
        context = click.Context(command, info_name=name, parent=root, terminal_width=100, **command.context_settings)
        parts.append(f"\n## insights {name}\n\n```text\n{command.get_help(context)}\n```\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``insights`` console script.

    As the console script (``argv`` None) the command runs under ``pipeline.interrupts``'s
    supervisor, so Ctrl-C and SIGTERM end it within seconds; a caller passing ``argv`` (the tests)
    runs it in its own process.
    """
    from pipeline.document import InvalidDocument
    from pipeline.job import NothingLanded
    from pipeline.mirror import MirrorError, MirrorFailed
    from pipeline.server.listen import CannotListen
    from pipeline.server.tokens import TokensMissing
    from pipeline.sources import SourceError, UnknownSource
    from pipeline.digest import NoDigest, Undelivered, dashboard_url
    from pipeline.trends import CleanupSettings, SettingsError, unleash_url

    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if argv is None:
        command = next((a for a in args if a in cli.commands), None)
        code = interrupts.supervised(" ".join(["insights", *([command] if command else [])]), debug,
                                     writes=command not in ("web", "serve", "reference"))
        if code is not None:
            sys.exit(code)
    try:
        CleanupSettings.from_environment(), unleash_url(), dashboard_url()  # a bad setting is told before any work
        code = cli.main(args=args, prog_name="insights", standalone_mode=False)
    except click.UsageError as error:
        _fail(f"{_command(error)}{error.format_message()}", 2, debug)
    except (calendar.CalendarError, UnknownSource, DataDirUnusable, SettingsError) as error:
        _fail(str(error), 2, debug)
    except (DataDirBusy, NothingLanded, TokensMissing, CannotServe, CannotListen, NoDigest, Undelivered) as error:
        _fail(str(error), 1, debug)
    except (MirrorFailed, MirrorError) as error:
        _fail(str(error), 3, debug)
    except SourceError as error:
        _fail(str(error), 1, debug)
    except click.Abort:
        _fail("interrupted", 130, debug)
    except InvalidDocument as error:
        _fail(str(error), 1, debug)
    except Exception as error:  # noqa: BLE001 - every failure becomes one line and exit 1
        _fail(f"{type(error).__name__}: {error}", 1, debug)
    sys.exit(code if isinstance(code, int) else 0)


def _command(error: click.UsageError) -> str:
    return f"{error.ctx.command_path}: " if error.ctx else ""


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"insights: error: {message.splitlines()[0] if message else 'failed'}", err=True)
    sys.exit(code)
