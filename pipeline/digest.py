"""The digest: what changed since the last one, told where the team talks, once a period.

A digest compares the committed warehouse with the state the last delivered digest saw: each
project's technical debt in the latest week (up, down), the flags that became clean-up candidates
(by reason, with their flags), and the unknown flags SDKs still evaluate. It goes to every target
configured as an Apprise URL (Slack, Microsoft Teams, Discord, e-mail, a JSON webhook...): in
``INSIGHTS_DIGEST_URLS`` (separated by spaces or commas) or in an Apprise configuration file
(``INSIGHTS_DIGEST_CONFIG``). URLs hold secrets: no log, manifest or state names one; a target is
named by its service and Apprise's identifier (a hash).

Once a period (an ISO week by default): ``state/digest.json`` keeps the period's message and
every target it reached, whatever the settings did in between: a target that has had the period's
digest never gets it again, and one that has not gets the same message (a retry, a target added).
A target the send cannot reach fails the digest: the run manifest (``runs/``) is ``failed`` with
one line naming the target, the command exits 1, and the server's metrics say so per target.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow.parquet as pq

from pipeline import commits, files, trends
from pipeline.calendar import UTC, end_of_day
from pipeline.manifest import RunManifest
from pipeline.warehouse import Partition, Warehouse, flags_partition

PERIODS = {"week": "0 8 * * 1", "day": "0 8 * * *", "month": "0 8 1 * *"}
"""Each period a digest may cover, and when its deployment sends it (cron, UTC): Monday, every
day, the first of the month, at 08:00."""
STATE = Path("state") / "digest.json"
LISTED = 20
"""Projects and unknown flags listed at most: the rest are counted (the largest changes of debt
come first), and on the dashboard."""
LISTED_FLAGS = 10
"""New clean-up candidates listed at most per reason: the rest are counted, with a link to the
dashboard's list of that reason."""


class NoDigest(RuntimeError):
    """Nothing to send: no target configured, or no warehouse built yet."""


class Undelivered(RuntimeError):
    """The digest did not reach every configured target; ``result`` is what each target got."""

    def __init__(self, result: dict):
        failed = {target: r for target, r in result["targets"].items() if r["status"] == "failed"}
        super().__init__(f"the digest of {result['period']} did not reach " + "; ".join(
            f"{r['service']} target {target} ({r['error']})" for target, r in failed.items())
            + ": the next send this period tries again")
        self.result = result


@dataclass(frozen=True)
class Seen:
    """What a digest saw: the day the ``flags`` table is as of, each project's technical debt in the
    latest week (percent), the clean-up candidates (flag, incarnation, reason, project, age in
    whole days at the end of ``as_of``, evaluations in the 30 days up to it; the last two None in
    the state of an older version) and the unknown flags (name, status, evaluations in 7 days,
    apps)."""

    as_of: str
    debt: dict[str, int]
    candidates: list[tuple[str, int, str, str, int | None, int | None]]
    unknown: list[tuple[str, str, int, list[str]]]

    def to_json(self) -> dict:
        return {"as_of": self.as_of, "debt": self.debt, "candidates": [list(c) for c in self.candidates],
                "unknown": [list(u) for u in self.unknown]}

    @classmethod
    def from_json(cls, data: dict) -> "Seen":
        return cls(data["as_of"], data["debt"], [(*c, None, None)[:6] for c in data["candidates"]],
                   [tuple(u) for u in data["unknown"]])


def period_key(now: dt.datetime, period: str) -> str:
    """The period ``now`` (UTC) falls in: ``2026-W49``, ``2026-12-07`` or ``2026-12``."""
    day = now.astimezone(UTC).date()
    return {"week": day.strftime("%G-W%V"), "day": day.isoformat(), "month": day.strftime("%Y-%m")}[period]


def seen_now(data_dir: Path) -> Seen:
    """What the committed warehouse holds now (``NoDigest`` where no run built the ``flags`` table)."""
    warehouse = Warehouse(data_dir)
    with commits.reading(data_dir) as state:
        committed = warehouse.committed(state.version) if state else None
        record = committed.records.get(("flags", "latest")) if committed else None
        if record is None:
            raise NoDigest(f"no run has built the flags table in {data_dir} yet: run `insights run` first")
        latest = flags_partition(dt.date.fromisoformat(record["snapshot_day"]))
        flags = pq.read_table(warehouse.path("flags", latest), columns=[
            "flag", "incarnation", "project", "created_at", "evaluations_30d", "cleanup_reason"]).to_pylist()
        unknown_path = warehouse.path("unknown_flags", latest)
        unknown = pq.read_table(unknown_path).to_pylist() if unknown_path.exists() else []
        weeks = sorted((key, r) for (grain, key), r in committed.records.items() if grain == "week")
        week = [] if not weeks else pq.read_table(warehouse.path("project_flag_trends", Partition(
            "week", weeks[-1][0], dt.date.fromisoformat(weeks[-1][1]["snapshot_day"]))),
            columns=["project", "technical_debt"]).to_pylist()
    end = end_of_day(dt.date.fromisoformat(record["snapshot_day"]))
    return Seen(record["snapshot_day"], {r["project"]: r["technical_debt"] for r in week},
                sorted((r["flag"], r["incarnation"], r["cleanup_reason"], r["project"],
                        (end - r["created_at"]).days, r["evaluations_30d"])
                       for r in flags if r["cleanup_reason"] is not None),
                [(r["flag"], r["status"], r["evaluations_7d"], r["apps"]) for r in unknown])


def message(now: Seen, before: Seen | None, period: str, unleash: str | None, dashboard: str | None
            ) -> tuple[str, str]:
    """The digest's title and its body (Markdown): what changed from ``before`` (None: the first
    digest, which tells where things stand) to ``now``."""
    lines = [f"Flags as of {now.as_of}" + (f", compared with {before.as_of}." if before else ".")]
    lines += ["", "## Technical debt by project"]
    changed = [(p, before.debt.get(p) if before else None, d) for p, d in sorted(now.debt.items())
               if before is None or before.debt.get(p) != d]
    for project, was, debt in sorted(changed, key=lambda c: (-abs(c[2] - (c[1] or 0)), c[0]))[:LISTED]:
        if was is None:
            lines.append(f"- {project}: {debt}%")
        else:
            lines.append(f"- {project}: {was}% → {debt}% ({'up' if debt > was else 'down'} {abs(debt - was)})")
    lines += _more(len(changed), dashboard, "")
    if before is not None:
        lines.append(f"- {len(now.debt) - len(changed)} project(s) unchanged" if changed else "- no change")
    known = {(c[0], c[1], c[2]) for c in before.candidates} if before else set()
    new = [c for c in now.candidates if (c[0], c[1], c[2]) not in known]
    lines += ["", f"## New clean-up candidates: {len(new)}"]
    for reason in trends.CLEANUP_REASONS:
        flags = sorted((c for c in new if c[2] == reason), key=_removal_order)
        if flags:
            lines += ["", f"### {reason} ({len(flags)})"]
            lines += [f"- {_flag(flag, project, unleash)} ({project}){_use(age, evaluations)}"
                      for flag, _, _, project, age, evaluations in flags[:LISTED_FLAGS]]
            lines += _more(len(flags), dashboard, f"reason={reason}", LISTED_FLAGS)
    was_unknown = {u[0] for u in before.unknown} if before else set()
    lines += ["", f"## Unknown flags: {len(now.unknown)} ({sum(u[0] not in was_unknown for u in now.unknown)} new)"]
    for flag, status, evaluations, apps in now.unknown[:LISTED]:
        mark = "" if flag in was_unknown else " (new)"
        lines.append(f"- `{flag}`{mark}: {status.replace('_', ' ')}, {evaluations:,} evaluations in 7 days, "
                     f"by {', '.join(apps)}")
    lines += _more(len(now.unknown), dashboard, "")
    lines += ["", f"Dashboard: {dashboard}" if dashboard else "Dashboard: `insights web` (set INSIGHTS_DASHBOARD_URL "
              "to link it here)"]
    return f"Unleash Insights digest, {period}", "\n".join(lines) + "\n"


def _flag(flag: str, project: str, unleash: str | None) -> str:
    return f"[{flag}]({unleash}/projects/{project}/features/{flag})" if unleash else f"`{flag}`"


def _removal_order(candidate: tuple) -> tuple:
    """A reason's candidates, those cheapest to remove first: the fewest evaluations in 30 days (code
    that hardly asks), then the oldest, then by name."""
    flag, _, _, _, age, evaluations = candidate
    return (evaluations if evaluations is not None else -1, -(age or 0), flag)


def _use(age: int | None, evaluations: int | None) -> str:
    if age is None or evaluations is None:
        return ""
    return f": {age:,} day{'' if age == 1 else 's'} old, {evaluations:,} evaluations in 30 days"


def _more(count: int, dashboard: str | None, view: str, listed: int = LISTED) -> list[str]:
    if count <= listed:
        return []
    return [f"- and {count - listed} more" + (f": {dashboard}/" + (f"#{view}" if view else "") if dashboard else "")]


@dataclass(frozen=True)
class Target:
    """One place a digest goes: its service, Apprise's identifier for it (no secret), its URL,
    the URL's parts that must never be shown, and whether it takes HTML first (e-mail)."""

    service: str
    id: str
    url: str
    secrets: tuple[str, ...]
    html: bool

    def __str__(self) -> str:
        return f"{self.service} target {self.id}"


def targets(config: Path | None = None) -> list[Target]:
    """The targets ``INSIGHTS_DIGEST_URLS`` and the configuration file (``config``, else
    ``INSIGHTS_DIGEST_CONFIG``) give; ``trends.SettingsError`` for one Apprise cannot use (named by
    its position, not its text)."""
    import apprise

    found = apprise.Apprise()
    urls = [u for u in re.split(r"[\s,]+", os.environ.get("INSIGHTS_DIGEST_URLS", "")) if u]
    config = config or (Path(os.environ["INSIGHTS_DIGEST_CONFIG"]) if os.environ.get("INSIGHTS_DIGEST_CONFIG") else None)
    with _apprise_lines():
        for number, url in enumerate(urls, start=1):
            if not found.add(url):
                raise trends.SettingsError(f"INSIGHTS_DIGEST_URLS: Apprise cannot send to its URL number {number} "
                                           "(see https://github.com/caronc/apprise/wiki for the forms it takes)")
        if config is not None:
            loaded = apprise.AppriseConfig()
            if not config.is_file() or not loaded.add(str(config.absolute())) or not loaded.services():
                raise trends.SettingsError(f"{config}: not an Apprise configuration file holding a URL it can send to")
            found.add(loaded)
        return [Target(server.service_name, server.url_id() or "?", server.url(), _secrets(server.url()),
                       _first_format(server.notify_format) == apprise.NotifyFormat.HTML) for server in found]


def _first_format(formats):
    """The format a target takes first (Apprise gives one, or those it takes, best first)."""
    return formats[0] if isinstance(formats, (tuple, list)) else formats


def _secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may be secret: user, password, path segments, query values, and a
    "host" that is no host name (``slack://<team>/…``, ``discord://<webhook id>/…``)."""
    parts = urlsplit(url)
    host = parts.hostname if parts.hostname and "." not in parts.hostname and parts.hostname != "localhost" else None
    pieces = [parts.username, parts.password, host, *parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
    return tuple(sorted({unquote(p) for p in pieces if p and len(p) >= 4}, key=len, reverse=True))


def send(data_dir: Path, period: str = "week", config: Path | None = None, now: dt.datetime | None = None) -> dict:
    """Send this period's digest to every configured target that has not had it yet; returns what
    each target got (``sent``, ``failed`` with a one-line error, or ``already sent``), and raises
    ``Undelivered`` with it, after recording the run as failed, where a target could not be reached."""
    data_dir = Path(data_dir)
    chosen = targets(config)
    if not chosen:
        raise NoDigest("no digest target configured: set INSIGHTS_DIGEST_URLS to Apprise URLs (or "
                       "INSIGHTS_DIGEST_CONFIG to an Apprise configuration file)")
    key = period_key(now or dt.datetime.now(UTC), period)
    with RunManifest(data_dir, "digest", {"period": key}) as manifest, manifest.step("deliver") as step:
        with _held(data_dir):
            state = _state(data_dir)
            if state.get("period") != key:
                state = _new_period(data_dir, state, key)
            # a target that had the period's digest keeps its record whatever the settings say now; a
            # failure is news only for a target still configured
            deliveries = {target: d for target, d in state["deliveries"].items() if d["status"] == "sent"}
            results = {}
            for target in chosen:
                if target.id in deliveries:
                    results[target.id] = {"service": target.service, "status": "already sent"}
                    continue
                error = _deliver(target, state["title"], state["body"])
                results[target.id] = deliveries[target.id] = {
                    "service": target.service, "status": "failed" if error else "sent",
                    "at": dt.datetime.now(UTC).isoformat(timespec="seconds"), **({"error": error} if error else {})}
                state["deliveries"] = deliveries
                files.write_json(data_dir, data_dir / STATE, state)
            if state["deliveries"] != deliveries:
                state["deliveries"] = deliveries
                files.write_json(data_dir, data_dir / STATE, state)
        step.update(targets=results, as_of=state["seen"]["as_of"])
        result = {"period": key, "targets": results, "manifest": str(manifest.path)}
        if any(r["status"] == "failed" for r in results.values()):
            raise Undelivered(result)
    return result


def preview(data_dir: Path, period: str = "week", now: dt.datetime | None = None) -> str:
    """The digest a send would deliver now, as text: sends and records nothing."""
    state = _state(Path(data_dir))
    key = period_key(now or dt.datetime.now(UTC), period)
    if state.get("period") == key:
        return f"{state['title']}\n\n{state['body']}"
    title, body = message(seen_now(Path(data_dir)), _baseline(state), key, trends.unleash_url(), dashboard_url())
    return f"{title}\n\n{body}"


def dashboard_url() -> str | None:
    """The insights server's web address (``INSIGHTS_DASHBOARD_URL``), for the digest's links."""
    return trends.web_address("INSIGHTS_DASHBOARD_URL", "the insights server, such as https://insights.example.com")


def _new_period(data_dir: Path, state: dict, key: str) -> dict:
    """The state of a period's first send: its message, compared with what the last delivered digest saw."""
    before = _baseline(state)
    seen = seen_now(data_dir)
    title, body = message(seen, before, key, trends.unleash_url(), dashboard_url())
    state = {"period": key, "seen": seen.to_json(), "before": before.to_json() if before else None,
             "title": title, "body": body, "deliveries": {}}
    files.write_json(data_dir, data_dir / STATE, state)
    return state


def _baseline(state: dict) -> Seen | None:
    """What the next digest compares with: what the last digest saw where it reached a target,
    else what that one compared with (nothing told is skipped)."""
    if not state:
        return None
    delivered = any(d["status"] == "sent" for d in state["deliveries"].values())
    data = state["seen"] if delivered else state["before"]
    return Seen.from_json(data) if data else None


def _state(data_dir: Path) -> dict:
    path = data_dir / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def deliveries(data_dir: Path) -> dict[str, dict]:
    """Each target's delivery of the latest period's digest, by target (``service``, status ``sent``
    or ``failed``, ``at``): every target that had it, and those the latest send could not reach;
    none where no digest was sent or its state cannot be read (a file being replaced)."""
    try:
        return dict(_state(Path(data_dir)).get("deliveries", {}))
    except (OSError, ValueError):
        return {}


def _deliver(target: Target, title: str, body: str) -> str | None:
    """Send to one target; None where it took the message, else why not, in one line, no secret in it."""
    import apprise

    with _apprise_lines() as lines:
        one = apprise.Apprise()
        one.add(target.url)
        if target.html:
            body, form = _html(body), apprise.NotifyFormat.HTML
        else:
            form = apprise.NotifyFormat.MARKDOWN
        if one.notify(body=body, title=title, body_format=form):
            return None
    error = " ".join(lines[:2]) or "the service refused it"
    for secret in target.secrets:
        error = error.replace(secret, "***")
    return error[:300]


def _html(markdown: str) -> str:
    """The digest as HTML whose plain-text alternative (Apprise writes it from the HTML) reads as
    the Markdown does: no space between tags (Apprise makes each a blank line), names in a monospace
    span (it puts a ``code`` element on lines of its own), a blank line before each heading and paragraph."""
    from apprise.conversion.format import convert_between
    from apprise import NotifyFormat

    html = re.sub(r">\s+<", "><", convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, markdown))
    html = html.replace("<code>", '<span style="font-family:monospace">').replace("</code>", "</span>")
    return re.sub(r"<(h[23]|p)>", r"<br><\1>", html)


@contextmanager
def _apprise_lines() -> Iterator[list[str]]:
    """Apprise's warnings and errors while the block runs, kept from every log: they may hold a URL."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(" ".join(record.getMessage().split()))

    apprise_log = logging.getLogger("apprise")
    saved = apprise_log.level, apprise_log.propagate, apprise_log.handlers
    apprise_log.setLevel(logging.WARNING)
    apprise_log.propagate, apprise_log.handlers = False, [Collect()]
    try:
        yield lines
    finally:
        apprise_log.level, apprise_log.propagate, apprise_log.handlers = saved


@contextmanager
def _held(data_dir: Path) -> Iterator[None]:
    """One digest at a time per data directory (a retry and the schedule may meet)."""
    (data_dir / "state").mkdir(parents=True, exist_ok=True)
    with open(data_dir / "state" / "digest.lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
