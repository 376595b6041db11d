"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, on a free port.

Password authentication over TCP (so the tests can show a password never leaks), fsync off
(the data is thrown away). Run as root, the server runs as the ``postgres`` user, as PostgreSQL
refuses root. The binaries are Debian's (``/usr/lib/postgresql/<version>/bin``) or on PATH.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psycopg

USER = "insights"
PASSWORD = "pg-s3cret-Zq7"


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


@dataclass
class Cluster:
    port: int

    def url(self, database: str, password: str | None = PASSWORD) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *scripts: Path) -> str:
        """A new database holding the given SQL scripts; returns its URL (with the password)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.url(name), autocommit=True) as connection:
            for script in scripts:
                connection.execute(Path(script).read_text(encoding="utf-8"))
        return self.url(name)

    def execute(self, database: str, sql: str) -> None:
        with psycopg.connect(self.url(database), autocommit=True) as connection:
            connection.execute(sql)


@contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster, yield it, stop it and remove its files."""
    bin_dir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="insights-pg-"))
    # root runs the server as postgres; runuser is in /usr/sbin, which a plain user's PATH may lack
    runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"
    as_postgres = [runuser, "-u", "postgres", "--"] if os.geteuid() == 0 else []
    try:
        (folder / "password").write_text(PASSWORD)
        if as_postgres:
            shutil.chown(folder, "postgres")
            shutil.chown(folder / "password", "postgres")
        port = _free_port()
        data = folder / "data"
        subprocess.run(as_postgres + [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth-local=trust",
                                      "--auth-host=scram-sha-256", f"--pwfile={folder / 'password'}", "--no-sync"],
                       check=True, capture_output=True)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(as_postgres + [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                      str(folder / "log"), "-w", "start"], check=True, capture_output=True)
        try:
            yield Cluster(port)
        finally:
            subprocess.run(as_postgres + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
