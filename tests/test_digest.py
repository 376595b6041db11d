"""The digest (SPEC §6 "be told"): received by a local HTTP server as Slack and a JSON webhook and by a
local SMTP server, its figures checked against the warehouse, once a period, failures told and retried."""

import datetime as dt
import email
import http.server
import json
import socket
from contextlib import contextmanager
from email import policy

import pyarrow.parquet as pq
import pytest

from pipeline import digest, job
from pipeline.calendar import UTC
from pipeline.server.metrics import digest_figures
from tests.instance import Instance
from tests.web import handling

MONDAY = dt.datetime(2025, 3, 31, 8, 0, tzinfo=UTC)  # ISO week 2025-W14
UNLEASH = "https://unleash.example.com"


def instance() -> Instance:
    u = Instance()
    u.project("p")
    u.project("q")
    u.flag("on", "p", "2025-01-01T10:00", type_="kill-switch")
    u.enable("on", "production", "2025-01-05T10:00")
    u.metrics("on", "web", "production", "2025-03-20T10:00", yes=100, no=0)  # always on
    u.flag("quiet", "q", "2025-01-01T10:00", type_="kill-switch")  # never evaluated
    u.flag("busy", "q", "2025-03-01T10:00", type_="kill-switch")
    u.metrics("busy", "web", "production", "2025-03-28T10:00", yes=5, no=5)
    u.metrics("ghost", "checkout", "production", "2025-03-29T10:00", yes=3, no=4)  # never created
    return u


def built(u: Instance, data_dir, as_of: dt.date) -> None:
    u.land(data_dir, extracted_at=f"{as_of + dt.timedelta(days=1)}T00:00")
    job.build(data_dir, job.plan_run(data_dir, as_of))


def warehouse(data_dir) -> tuple[dict, list, dict]:
    """The latest week's debt per project, the clean-up candidates and the unknown flags, as stored."""
    weeks = sorted((data_dir / "warehouse" / "project_flag_trends").glob("week=*/part-0.parquet"))
    debt = {r["project"]: r["technical_debt"] for r in pq.read_table(weeks[-1]).to_pylist()}
    flags = pq.read_table(data_dir / "warehouse" / "flags" / "part-0.parquet").to_pylist()
    unknown = {r["flag"]: r for r in pq.read_table(data_dir / "warehouse" / "unknown_flags" / "part-0.parquet").to_pylist()}
    return debt, [(r["flag"], r["project"], r["cleanup_reason"]) for r in flags if r["cleanup_reason"]], unknown


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def webhooks(port: int | None = None):
    """A local HTTP server that takes every POST; yields (its base URL, the (path, JSON) it got)."""
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_):
            pass

    with handling(Hook, port or 0) as bound:
        yield f"127.0.0.1:{bound}", received


@contextmanager
def mailbox():
    """A local SMTP server (aiosmtpd); yields (its port, the messages it got)."""
    from aiosmtpd.controller import Controller

    messages = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, messages
    finally:
        controller.stop()


@pytest.fixture
def slack_here(monkeypatch):
    """Apprise's real Slack plugin, posting to a local server instead of hooks.slack.com."""
    from apprise.plugins.slack import NotifySlack

    def to(base: str) -> None:
        monkeypatch.setattr(NotifySlack, "webhook_url", f"http://{base}/services")
    return to


def test_the_digest_reaches_slack_a_json_webhook_and_email_with_the_warehouses_figures_once_a_period(
        tmp_path, monkeypatch, slack_here):
    built(instance(), tmp_path, dt.date(2025, 3, 31))
    debt, candidates, unknown = warehouse(tmp_path)
    assert {reason for _, _, reason in candidates} >= {"always_on", "not_evaluated_30_days"} and "ghost" in unknown
    monkeypatch.setenv("INSIGHTS_UNLEASH_URL", UNLEASH)
    monkeypatch.setenv("INSIGHTS_DASHBOARD_URL", "https://insights.example.com")
    with webhooks() as (base, received), mailbox() as (smtp, messages):
        slack_here(base)
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://{base}/hook, slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ "
                           f"mailto://127.0.0.1:{smtp}?from=insights@example.com&to=team@example.com")
        result = digest.send(tmp_path, now=MONDAY)
        assert result["period"] == "2025-W14"
        assert sorted(r["status"] for r in result["targets"].values()) == ["sent", "sent", "sent"]
        hook = next(body for path, body in received if path == "/hook")
        slack = next(body for path, body in received if path.startswith("/services/T1JJ3T3L2/"))
        assert hook["title"] == "Unleash Insights digest, 2025-W14"
        text = hook["message"]
        # the first digest tells where things stand: every project's debt, every candidate, every unknown flag
        for project, value in debt.items():
            assert f"- {project}: {value}%\n" in text
        for flag, project, reason in candidates:
            section = text.split(f"### {reason} (")[1].split("###")[0]
            assert f"- [{flag}]({UNLEASH}/projects/{project}/features/{flag}) ({project})" in section
        assert f"## New clean-up candidates: {len(candidates)}\n" in text
        assert "- `ghost` (new): never created, 7 evaluations in 7 days, by checkout\n" in text
        assert text.endswith("Dashboard: https://insights.example.com")  # Apprise trims the last newline
        # Slack gets its own markup, links included
        assert f"<{UNLEASH}/projects/p/features/on|on>" in slack["attachments"][0]["text"]
        [(to, mail)] = messages
        assert to == ["team@example.com"] and mail["Subject"] == "Unleash Insights digest, 2025-W14"
        assert f'href="{UNLEASH}/projects/p/features/on"' in mail.get_body(("html",)).get_content()
        # a second send in the period, as a retried run makes, sends nothing
        again = digest.send(tmp_path, now=MONDAY + dt.timedelta(days=3))
        assert [r["status"] for r in again["targets"].values()] == ["already sent"] * 3
        assert len(received) == 2 and len(messages) == 1


def test_the_next_period_tells_only_what_changed(tmp_path, monkeypatch):
    u = instance()
    built(u, tmp_path, dt.date(2025, 3, 31))
    before, first_candidates, _ = warehouse(tmp_path)
    with webhooks() as (base, received):
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://{base}/hook")
        digest.send(tmp_path, now=MONDAY)
        u.stale("busy", "2025-04-02T10:00")
        u.flag("fresh", "p", "2025-04-01T10:00")
        built(u, tmp_path, dt.date(2025, 4, 6))
        after, candidates, _ = warehouse(tmp_path)
        digest.send(tmp_path, now=MONDAY + dt.timedelta(days=7))
    text = received[-1][1]["message"]
    assert received[-1][1]["title"] == "Unleash Insights digest, 2025-W15"
    assert text.startswith("Flags as of 2025-04-06, compared with 2025-03-31.\n")
    new = [c for c in candidates if c not in first_candidates]
    assert new == [("busy", "q", "stale")]  # the one new candidate: listed alone
    assert "## New clean-up candidates: 1\n\n### stale (1)\n- `busy` (q): 36 days old, 10 evaluations in 30 days\n" in text
    for project in after:
        line = f"- {project}: {before[project]}% → {after[project]}%"
        assert (line in text) == (before[project] != after[project])
    assert before["q"] != after["q"]  # the stale flag moved q's debt
    assert "## Unknown flags: 1 (0 new)\n- `ghost`: never created" in text


def metrics(data_dir) -> dict:
    """The digest's figures and the digest command's last status, as the server's /metrics gives them."""
    from pipeline.server.metrics import PipelineCollector

    figures = {m.name: {tuple(s.labels.values()): s.value for s in m.samples} for m in digest_figures(data_dir)}
    collected = PipelineCollector(data_dir, lambda: None, lambda: None).collect()
    status = next(m for m in collected if m.name == "insights_last_run_success")
    figures["last_run_success"] = {s.labels["command"]: s.value for s in status.samples}
    return figures


def test_an_unreachable_target_fails_the_digest_in_one_line_and_is_tried_again_in_the_period(tmp_path, monkeypatch):
    built(instance(), tmp_path, dt.date(2025, 3, 31))
    down = free_port()
    secret = "s3cr3t-passw0rd"
    with webhooks() as (base, received):
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://{base}/up json://alice:{secret}@127.0.0.1:{down}/hook-token-42")
        with pytest.raises(digest.Undelivered) as undelivered:
            digest.send(tmp_path, now=MONDAY)
        result = undelivered.value.result
        assert sorted(r["status"] for r in result["targets"].values()) == ["failed", "sent"]
        line = str(undelivered.value)
        assert line.startswith("the digest of 2025-W14 did not reach JSON target ") and "\n" not in line
        [failed] = [t for t, r in result["targets"].items() if r["status"] == "failed"]
        record = json.loads(open(result["manifest"]).read())  # the run's record says failed, and which target
        assert record["status"] == "failed" and failed in record["error"]
        assert record["steps"]["deliver"]["targets"][failed]["status"] == "failed"
        figures = metrics(tmp_path)
        assert figures["insights_digest_targets"] == {("sent",): 1, ("failed",): 1}
        assert figures["insights_digest_target_success"][("JSON", failed)] == 0
        assert figures["last_run_success"]["digest"] == 0
        assert figures["insights_digest_last_sent_timestamp_seconds"][()] > MONDAY.timestamp()
        first = received[0][1]["message"]
    with webhooks(down) as (_, later):  # the target is back: the retry reaches it alone, with the same digest
        retried = digest.send(tmp_path, now=MONDAY + dt.timedelta(hours=2))
    assert sorted(r["status"] for r in retried["targets"].values()) == ["already sent", "sent"]
    assert [(path, body["message"]) for path, body in later] == [("/hook-token-42", first)]
    figures = metrics(tmp_path)
    assert figures["insights_digest_targets"] == {("sent",): 2, ("failed",): 0}
    assert figures["last_run_success"]["digest"] == 1
    monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://127.0.0.1:{free_port()}/gone")  # the only target now: down
    with pytest.raises(digest.Undelivered):
        digest.send(tmp_path, now=MONDAY + dt.timedelta(hours=3))
    figures = metrics(tmp_path)  # the two that had it still had it; the new one failed
    assert figures["insights_digest_targets"] == {("sent",): 2, ("failed",): 1}
    assert figures["last_run_success"]["digest"] == 0
    written = [(tmp_path / digest.STATE).read_text(), *(p.read_text() for p in (tmp_path / "runs").glob("*.json"))]
    for text in written:
        assert secret not in text and "hook-token-42" not in text and "alice" not in text


def test_a_target_that_had_the_periods_digest_never_gets_it_again_whatever_the_settings_did(tmp_path, monkeypatch):
    built(instance(), tmp_path, dt.date(2025, 3, 31))
    with webhooks() as (base, received), mailbox() as (smtp, messages):
        first_two = f"mailto://127.0.0.1:{smtp}?from=insights@example.com&to=team@example.com json://{base}/hook"
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", first_two)
        assert [r["status"] for r in digest.send(tmp_path, now=MONDAY)["targets"].values()] == ["sent", "sent"]
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://{base}/other")  # another set of targets
        assert [r["status"] for r in digest.send(tmp_path, now=MONDAY + dt.timedelta(hours=1))["targets"].values()
                ] == ["sent"]
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", first_two)  # the first two again, the same week
        again = digest.send(tmp_path, now=MONDAY + dt.timedelta(days=2))
        assert [r["status"] for r in again["targets"].values()] == ["already sent", "already sent"]
        assert [path for path, _ in received] == ["/hook", "/other"] and len(messages) == 1
        assert metrics(tmp_path)["insights_digest_targets"] == {("sent",): 3, ("failed",): 0}
        digest.send(tmp_path, now=MONDAY + dt.timedelta(days=7))  # the next week: both get its digest
        assert [path for path, _ in received] == ["/hook", "/other", "/hook"] and len(messages) == 2


def test_an_unreachable_target_is_one_line_exit_1_and_the_reached_ones_are_listed(tmp_path, monkeypatch, capsys):
    from pipeline.cli import main

    built(instance(), tmp_path, dt.date(2025, 3, 31))
    with webhooks() as (base, _):
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://{base}/up json://127.0.0.1:{free_port()}/down")
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main(["digest", "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert exit_.value.code == 1
    [reached] = out.splitlines()
    assert reached.startswith("JSON target ") and reached.endswith(": sent")
    [line] = err.strip().splitlines()
    assert line.startswith("insights: error: the digest of ") and "did not reach JSON target " in line
    assert "Undelivered" not in line and "Error" not in line


def test_the_email_reads_as_the_digest_an_item_a_line(tmp_path, monkeypatch):
    built(instance(), tmp_path, dt.date(2025, 3, 31))
    with mailbox() as (smtp, messages):
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"mailto://127.0.0.1:{smtp}?from=insights@example.com&to=team@example.com")
        digest.send(tmp_path, now=MONDAY)
    [(_, mail)] = messages
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # as of 2025-03-31: quiet and on were created on 2025-01-01 (89 whole days before its end)
    assert "Technical debt by project\n- p: 0%\n- q: 0%\n" in text
    assert "\nnot_evaluated_30_days (1)\n- quiet (q): 89 days old, 0 evaluations in 30 days\n" in text
    assert "\nalways_on (1)\n- on (p): 89 days old, 100 evaluations in 30 days\n" in text
    assert "\n- ghost (new): never created, 7 evaluations in 7 days, by checkout\n" in text
    assert "<code>" in mail.get_body(("html",)).get_content() or "monospace" in mail.get_body(("html",)).get_content()


def test_a_dry_run_prints_the_digest_and_records_nothing(tmp_path, monkeypatch, capsys):
    from pipeline.cli import main

    built(instance(), tmp_path, dt.date(2025, 3, 31))
    with pytest.raises(SystemExit) as exit_:
        main(["digest", "--data-dir", str(tmp_path), "--dry-run"])
    assert exit_.value.code == 0
    assert "## Unknown flags: 1 (1 new)\n- `ghost` (new)" in capsys.readouterr().out
    assert not (tmp_path / digest.STATE).exists()


@pytest.mark.parametrize("setting, message", [
    ({}, "no digest target configured: set INSIGHTS_DIGEST_URLS"),
    ({"INSIGHTS_DIGEST_URLS": "nonsense://secret-token"}, "Apprise cannot send to its URL number 1"),
    ({"INSIGHTS_DASHBOARD_URL": "insights.example.com"}, "INSIGHTS_DASHBOARD_URL must be the web address"),
])
def test_a_digest_with_nowhere_to_go_is_one_line(tmp_path, monkeypatch, capsys, setting, message):
    from pipeline.cli import main

    built(instance(), tmp_path, dt.date(2025, 3, 31))
    monkeypatch.delenv("INSIGHTS_DIGEST_URLS", raising=False)
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["digest", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code in (1, 2) and "secret-token" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("insights: error: ") and message in line


def test_serve_registers_the_weekly_digest_beside_the_daily_run():
    from flows.serve import digest_deployment

    deployment = digest_deployment(data_dir="/srv/insights")
    schedule = deployment.schedules[0].schedule
    assert (deployment.name, schedule.cron, schedule.timezone) == ("weekly", "0 8 * * 1", "UTC")
    assert deployment.parameters == {"data_dir": "/srv/insights", "period": "week"}


def test_the_digest_flow_sends_and_without_a_target_says_so_and_succeeds(prefect, tmp_path, monkeypatch):
    from flows.digest import insights_digest

    built(instance(), tmp_path, dt.date(2025, 3, 31))
    monkeypatch.delenv("INSIGHTS_DIGEST_URLS", raising=False)
    assert insights_digest(data_dir=str(tmp_path))["skipped"].startswith("no digest target configured")
    with webhooks() as (base, received):
        monkeypatch.setenv("INSIGHTS_DIGEST_URLS", f"json://{base}/hook")
        result = insights_digest(data_dir=str(tmp_path), period="day")
    assert [r["status"] for r in result["targets"].values()] == ["sent"]
    assert received[0][1]["title"] == f"Unleash Insights digest, {dt.datetime.now(UTC).date()}"


def test_a_long_digest_lists_the_largest_changes_and_counts_the_rest():
    before = digest.Seen("2025-03-30", {f"p{n:02}": 10 for n in range(25)}, [], [])
    now = digest.Seen("2025-04-06", {f"p{n:02}": 10 + n for n in range(25)},  # p00 unchanged; p24 up 24
                      [(f"f{n:02}", 1, "always_off", "p01", 40, 100 + n % 3) for n in range(22)], [])
    _, text = digest.message(now, before, "2025-W15", None, "https://insights.example.com")
    debt = text.split("## Technical debt by project\n")[1].split("\n\n")[0].splitlines()
    assert debt[0] == "- p24: 10% → 34% (up 24)" and debt[19] == "- p05: 10% → 15% (up 5)"
    assert debt[20:] == ["- and 4 more: https://insights.example.com/", "- 1 project(s) unchanged"]
    flags = text.split("### always_off (22)\n")[1].split("\n\n")[0].splitlines()
    # the fewest evaluations first (f00, f03, ... have 100), ten of them, and a link to the rest
    assert flags[:2] == ["- `f00` (p01): 40 days old, 100 evaluations in 30 days",
                         "- `f03` (p01): 40 days old, 100 evaluations in 30 days"] and len(flags) == 11
    assert flags[7] == "- `f21` (p01): 40 days old, 100 evaluations in 30 days"
    assert flags[8] == "- `f01` (p01): 40 days old, 101 evaluations in 30 days"
    assert flags[10] == "- and 12 more: https://insights.example.com/#reason=always_off"


def test_new_candidates_are_ordered_by_reason_then_fewest_evaluations_then_age():
    now = digest.Seen("2025-04-06", {}, [
        ("kill", 1, "stale", "p", 900, 7_211_687), ("old", 1, "stale", "p", 400, 0), ("young", 1, "stale", "p", 31, 0),
        ("idle", 1, "not_evaluated_30_days", "p", 1, 0)], [])
    _, text = digest.message(now, None, "2025-W15", None, None)
    listed = [line for line in text.splitlines() if line.startswith("- `")]
    assert listed == ["- `old` (p): 400 days old, 0 evaluations in 30 days",
                      "- `young` (p): 31 days old, 0 evaluations in 30 days",
                      "- `kill` (p): 900 days old, 7,211,687 evaluations in 30 days",
                      "- `idle` (p): 1 day old, 0 evaluations in 30 days"]


def test_a_digest_state_of_the_earlier_version_is_compared_with_as_before():
    old = digest.Seen.from_json({"as_of": "2025-03-30", "debt": {"p": 10}, "candidates": [["f", 1, "stale", "p"]],
                                 "unknown": []})
    now = digest.Seen("2025-04-06", {"p": 10}, [("f", 1, "stale", "p", 40, 0), ("g", 1, "stale", "p", 40, 0)], [])
    _, text = digest.message(now, old, "2025-W15", None, None)
    assert "## New clean-up candidates: 1\n\n### stale (1)\n- `g` (p): 40 days old" in text
