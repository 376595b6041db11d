"""The insights server's HTTP under hostile and careless clients: bounded bodies, deadlines for slow
and idle connections, a connection limit said once, and the RFCs' details (cookies, challenges,
codings, entity tags, HEAD, errors in Unleash's shape)."""

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.server import listen
from pipeline.server.app import create_app
from pipeline.server.tokens import Tokens
from tests.test_server import AS_OF, AUTHORIZED, TOKEN, client

ROOT = Path(__file__).parents[1]


def signed_in(web: TestClient) -> str:
    answer = web.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert answer.status_code == 303
    return answer.cookies["insights_session"]


def test_a_co_hosted_cookie_leaves_page_and_api_signed_in_alike(sample_warehouse):
    web = client(sample_warehouse)
    session = signed_in(web)
    web.cookies.clear()
    cookies = {"Cookie": f'other={{"a":1}}; insights_session={session}'}
    assert "Sign in" not in web.get("/", headers=cookies).text
    assert web.get("/api/admin/insights", headers=cookies).status_code == 200


@pytest.mark.parametrize(("trusted", "forwarded", "secure"), [
    (["testclient"], "https", True),  # the TLS proxy says the browser came over https
    ([], "https", False),  # anyone else's X-Forwarded-Proto is not believed
    (["testclient"], "http", False),
])
def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy_only(sample_warehouse, trusted, forwarded, secure):
    web = TestClient(create_app(sample_warehouse, Tokens([TOKEN]), today=lambda: AS_OF, trusted_proxies=trusted))
    answer = web.post("/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": forwarded}, follow_redirects=False)
    assert answer.status_code == 303
    assert ("; secure" in answer.headers["set-cookie"].lower()) == secure


@pytest.mark.parametrize("content", ["", "{ not json", '{"version": "x"}'])
def test_an_unreadable_commit_record_is_503_in_unleashs_shape_everywhere(sample_warehouse, tmp_path, content):
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(sample_warehouse, data_dir)
    (data_dir / "state" / "warehouse.json").write_text(content)
    web = client(data_dir)
    signed_in(web)
    for path in ["/ready", "/api/admin/insights", "/api/admin/insights/lifecycle", "/"]:
        answer = web.get(path, headers=AUTHORIZED)
        assert answer.status_code == 503 and answer.json()["name"] == "ServiceUnavailable", path
        assert "state/warehouse.json is unreadable" in answer.json()["message"] and str(data_dir) not in answer.text


def test_ready_says_why_without_naming_a_path(sample_warehouse, tmp_path):
    import shutil

    answer = client(tmp_path).get("/ready")
    assert answer.status_code == 503 and "run `insights run`" in answer.json()["message"]
    assert str(tmp_path) not in answer.text
    torn = tmp_path / "torn"
    shutil.copytree(sample_warehouse, torn)
    (torn / "state" / "warehouse.json").write_text('{"version": 3, "publishing": true}')
    answer = client(torn).get("/ready")
    assert answer.status_code == 503 and "a build died while committing" in answer.json()["message"]
    assert str(torn) not in answer.text and "sample-warehouse" not in answer.text


def test_a_client_that_drops_its_sign_in_is_not_a_server_error(sample_warehouse, caplog):
    app = create_app(sample_warehouse, Tokens([TOKEN]), today=lambda: AS_OF)
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/login", "raw_path": b"/login", "query_string": b"",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded")], "scheme": "http",
             "server": ("127.0.0.1", 4243), "client": ("127.0.0.1", 5000), "root_path": "", "http_version": "1.1"}
    with caplog.at_level("INFO"):
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]


def test_401_challenges_and_405_says_what_is_allowed(sample_warehouse):
    web = client(sample_warehouse)
    refused = web.get("/api/admin/insights")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer ")
    wrong = web.post("/api/admin/insights", headers=AUTHORIZED)
    assert wrong.status_code == 405 and {m.strip() for m in wrong.headers["Allow"].split(",")} == {"GET", "HEAD"} and wrong.json()["name"] == "MethodNotAllowed"


@pytest.mark.parametrize(("accept", "gzipped"), [
    ("gzip", True), ("GZIP", True), ("gzip;q=0", False), ("gzip; q=0.0, identity", False), ("*", True),
    ("gzip;q=0, *", False), ("br, x-gzip;q=0.5", True), ("identity", False), ("", False),
])
def test_gzip_only_where_the_client_accepts_it(sample_warehouse, accept, gzipped):
    answer = client(sample_warehouse).get("/api/admin/insights", headers={**AUTHORIZED, "Accept-Encoding": accept})
    assert answer.status_code == 200 and (answer.headers.get("Content-Encoding") == "gzip") == gzipped


def test_if_none_match_compares_weakly_and_takes_a_star(sample_warehouse):
    web = client(sample_warehouse)
    etag = web.get("/api/admin/insights", headers=AUTHORIZED).headers["ETag"]
    assert etag.startswith('W/"')
    for sent in [etag, etag[2:], "*", f'"other", {etag[2:]}']:
        again = web.get("/api/admin/insights", headers={**AUTHORIZED, "If-None-Match": sent})
        assert again.status_code == 304 and again.headers["Vary"] == "Accept-Encoding", sent
    assert web.get("/api/admin/insights", headers={**AUTHORIZED, "If-None-Match": '"other"'}).status_code == 200


def test_a_huge_value_is_not_echoed_whole(sample_warehouse):
    answer = client(sample_warehouse).get("/api/admin/insights?from=" + "9" * 60_000, headers=AUTHORIZED)
    assert answer.status_code == 400 and len(answer.json()["message"]) < 200 and "60000 characters" in answer.text


def test_head_is_answered_wherever_get_is(sample_warehouse):
    web = client(sample_warehouse)
    for path, headers in [("/login", {}), ("/health", {}), ("/ready", {}), ("/api/admin/insights", AUTHORIZED),
                          ("/openapi.yaml", AUTHORIZED), ("/metrics", AUTHORIZED)]:
        answer = web.head(path, headers=headers)
        assert answer.status_code == 200 and answer.content == b"", path


def test_a_failure_inside_a_route_is_a_500_in_unleashs_shape(sample_warehouse, monkeypatch, caplog):
    from pipeline.server.held import Held

    monkeypatch.setattr(Held, "document", lambda *a: 1 / 0)
    with caplog.at_level("INFO"):
        answer = client(sample_warehouse).get("/api/admin/insights?from=2026-01-01&to=2026-01-02", headers=AUTHORIZED)
    assert answer.status_code == 500 and answer.json() == {"name": "InternalError",
                                                           "message": "the server failed to answer; its log says why"}
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "GET /api/admin/insights failed: ZeroDivisionError: division by zero"]


# ---- a real server: bodies, deadlines and the connection limit -------------------------------------

@contextmanager
def real_server(data_dir: Path, *options: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "INSIGHTS_WEB_TOKENS": TOKEN}
    process = subprocess.Popen([sys.executable, "-c", "from pipeline.cli import main; main()", "web", "--data-dir",
                                str(data_dir), "--port", str(port), *options], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.2)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def served_rss_kib(process: subprocess.Popen) -> int:
    """The resident memory of the server: the supervisor's child, which serves."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    status = Path(f"/proc/{children[0]}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def settled_rss_kib(process) -> int:
    """The served process's RSS once it stops growing (two readings half a second apart within
    512 KiB), at most 20 s after asking."""
    last = served_rss_kib(process)
    for _ in range(40):
        time.sleep(0.5)
        now = served_rss_kib(process)
        if abs(now - last) < 512:
            return now
        last = now
    return last


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_10_mb_sign_in_is_413_and_the_server_stays_small(sample_warehouse, declared):
    import http.client

    with real_server(sample_warehouse) as (port, process):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/login", body=b"token=wrong", headers={"Content-Type": "application/x-www-form-urlencoded"})
        connection.getresponse().read()  # a small sign-in first: what the first one loads is not the body's doing
        before = settled_rss_kib(process)  # and what the server loads in the background after it starts
        chunk = b"token=" + b"x" * (64 * 1024 - 6)
        body = (chunk for _ in range(160))  # 10 MiB
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if declared:
            headers["Content-Length"] = str(160 * len(chunk))
        try:
            connection.request("POST", "/login", body=body, headers=headers, encode_chunked=not declared)
            answer = connection.getresponse()
            status = answer.status
        except (BrokenPipeError, ConnectionResetError):
            pytest.fail("the server closed the connection without an answer")
        assert status == 413
        assert served_rss_kib(process) - before < 20 * 1024


def test_idle_and_half_sent_requests_are_closed_within_the_deadline(sample_warehouse):
    with real_server(sample_warehouse) as (port, _):
        idle = socket.create_connection(("127.0.0.1", port))
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the headers never end
        began = time.monotonic()
        for connection in (idle, half):
            connection.settimeout(listen.REQUEST_SECONDS + 5)
            assert connection.recv(1024) == b""  # closed by the server
        assert time.monotonic() - began < listen.REQUEST_SECONDS + 3
        kept = socket.create_connection(("127.0.0.1", port))  # after an answer, idle keep-alive closes too
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        kept.settimeout(listen.KEEP_ALIVE_SECONDS + 5)
        answer = b""
        while not answer.endswith(b'{"health":"GOOD"}'):
            answer += kept.recv(4096)
        began = time.monotonic()
        assert b"200 OK" in answer and kept.recv(1024) == b""
        assert time.monotonic() - began < listen.KEEP_ALIVE_SECONDS + 2


def test_at_the_connection_limit_a_new_client_gets_503_and_the_log_says_so_once(sample_warehouse):
    with real_server(sample_warehouse, "--max-connections", "5") as (port, process):
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        answers = []
        for _ in range(3):
            try:
                answers.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status)
            except urllib.error.HTTPError as refused:
                answers.append(refused.code)
        for connection in held:
            connection.close()
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert answers == [503, 503, 503]
    said = [line for line in err.splitlines() if "connections open, the limit" in line]
    assert len(said) == 1 and "Traceback" not in err and "Exceeded concurrency limit" not in err, err


def test_the_lifecycle_route_reads_what_the_run_published_not_the_lake(sample_warehouse, monkeypatch):
    from pipeline import trends
    from pipeline.lake import Lake

    expected = trends.lifecycle_now(Lake(sample_warehouse), AS_OF, ["checkout", "payments"])
    monkeypatch.setattr(trends, "lifecycle_now", lambda *a: pytest.fail("the lake was read for the lifecycle"))
    answer = client(sample_warehouse).get("/api/admin/insights/lifecycle?projects=payments,checkout", headers=AUTHORIZED)
    assert answer.status_code == 200 and answer.json() == expected
    assert answer.headers["Insights-As-Of"] == AS_OF.isoformat()
