"""The alerting rules (docs/alerts.yml) with Prometheus's own tools, and the real Prometheus
scraping a real insights server: every series the rules read is there, per project."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from pipeline.server.app import create_app
from pipeline.server.tokens import Tokens
from tests.web import serving

ROOT = Path(__file__).parents[1]
TOKEN = "prometheus-scrape-token-0123456789"


@pytest.fixture(scope="module")
def prometheus() -> dict[str, str]:
    """Debian's prometheus and promtool (scripts/test installs them as root); skipped only where they
    are truly absent, and never in CI."""
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    if not all(found.values()):
        message = "Prometheus is not installed (apt-get install prometheus): the alerting tests cannot run"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_promtool_checks_the_rules_and_their_unit_tests_pass(prometheus):
    checked = subprocess.run([prometheus["promtool"], "check", "rules", "docs/alerts.yml"], cwd=ROOT,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([prometheus["promtool"], "test", "rules", "docs/alerts.test.yml"], cwd=ROOT,
                            capture_output=True, text=True)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_prometheus_scrapes_each_projects_figures_from_insights_web(prometheus, sample_warehouse, tmp_path):
    with serving(create_app(sample_warehouse, Tokens([TOKEN]))) as base:
        target = base.removeprefix("http://")
        (tmp_path / "token").write_text(TOKEN)
        shutil.copy(ROOT / "docs" / "alerts.yml", tmp_path / "alerts.yml")
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{"job_name": "insights", "static_configs": [{"targets": [target]}],
                                "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "token")}}],
        }))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([prometheus["prometheus"], f"--config.file={tmp_path / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            series = []
            for _ in range(600):
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query",
                                       params={"query": "insights_project_cleanup_candidates"})
                    if answer.status_code == 200:  # a starting Prometheus answers 503 "Service Unavailable"
                        series = answer.json().get("data", {}).get("result", [])
                except httpx.TransportError:
                    pass
                if series:
                    break
                time.sleep(0.1)
            debt = httpx.get(f"http://127.0.0.1:{port}/api/v1/query",
                             params={"query": "insights_project_technical_debt_percent"}).json()["data"]["result"]
            rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules").json()["data"]["groups"][0]["rules"]
        finally:
            server.terminate()
            server.wait(30)
    reasons = {s["metric"]["reason"] for s in series}
    assert reasons == {"stale", "potentially_stale", "completed", "not_evaluated_30_days", "always_on", "always_off"}
    assert any(s["metric"]["reason"] == "always_on" and float(s["value"][1]) >= 1 for s in series)
    assert len(series) == 6 * len({s["metric"]["project"] for s in series}) and debt
    assert {r["name"] for r in rules} >= {"InsightsTechnicalDebtRising", "InsightsNewAlwaysOnFlags"}
    assert all(r["health"] == "ok" for r in rules)
