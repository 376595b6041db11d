"""The PostgreSQL source: a self-hosted Unleash database (Unleash 5.12 and later), read-only.

Every entity is read in one ``REPEATABLE READ``, read-only transaction, so the tables agree with
each other. The queries are ``sql/unleash/*.sql``; none selects a name, username, e-mail, IP,
strategy parameter or constraint value. Each query's header names the columns it reads
(``-- Reads: table(column, …)``); before reading anything, the session checks in the catalogs that
they all exist and may be read, so an unsupported schema or a missing grant is one line naming
what is missing, before any row moves. Watermarks reach the queries as a transaction-local
setting (``set_config('insights.since', $1, true)``, a bound parameter), so the queries themselves
take no parameters and the driver streams them with binary ``COPY``.

Driver: ADBC's PostgreSQL driver. It runs each query as ``COPY … TO STDOUT (FORMAT binary)`` and
decodes the rows into Arrow record batches in C++, so rows never become Python objects; a
reader yields batches as they arrive, so memory stays flat whatever the table size. psycopg 3's
binary COPY would hand rows to Python one by one.

Errors are one of two kinds. ``SourceUnavailable`` (a refused or dropped connection, a server
starting up or shutting down, a timeout) is worth retrying; ``SourceRefused`` (bad credentials, a
missing grant, a missing table or column, not an Unleash database) is not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from contextlib import contextmanager
from typing import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from pipeline import queries
from pipeline.sources.base import SourceError, SourceRefused, SourceUnavailable

log = logging.getLogger(__name__)

SUPPORTED = "Unleash 5.12 and later (5.12 to 8.x are tested)"

QUERIES: dict[str, list[str]] = {
    "events": ["events"],
    "features": ["features"],
    "feature_types": ["feature_types"],
    "feature_environments": ["feature_environments"],
    "environments": ["environments"],
    "projects": ["projects"],
    "users": ["users"],
    "user_activity": ["user_logins", "token_activity", "login_history"],
    "project_members": ["project_roles", "group_roles"],
    "feature_lifecycles": ["feature_lifecycles"],
    "client_metrics": ["client_metrics"],
    "client_metrics_daily": ["client_metrics_daily"],
}
"""The queries that together return each entity."""

STAND_INS: dict[str, tuple[str, str]] = {
    "projects": ("projects_never_archived", "projects are never archived, as in Unleash 5"),
}
"""A query's stand-in where a column it reads is missing, and what using it means."""

OPTIONAL: dict[str, str] = {
    "token_activity": "personal-access-token use does not count as activity",
    "login_history": "only each user's last login counts as activity",
    "group_roles": "members through groups do not count",
    "client_metrics_daily": "days without hourly metrics count no evaluations",
}
"""Queries the run can do without (a table a role may not be granted), and what doing without means."""

NO_WATERMARK = {"events": "0"}

TRANSIENT_STATES = ("08", "40", "53", "57", "58")
"""SQLSTATE classes worth a retry: connection exceptions, rollbacks (serialization, deadlock),
insufficient resources, operator intervention (shutdown, statement timeout), system errors."""
TRANSIENT_FATAL = ("starting up", "shutting down", "in recovery mode", "too many clients", "connection slots",
                   "terminating connection")
"""Messages of a server refusing a connection for now, not for good."""

_READS = re.compile(r"^-- Reads: (.+)$", re.MULTILINE)
_TABLE = re.compile(r"(\w+)\(([^)]*)\)")


def redacted(url: str) -> str:
    """The URL without user name or password: safe to log, to record and to pass as a parameter."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def without_password(url: str) -> tuple[str, str | None]:
    """The URL with its password taken out, and the password (None when it had none)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = f"{parts.username}@" if parts.username else ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{user}{host}", parts.path, parts.query, parts.fragment)), parts.password


def reads(query: str) -> list[tuple[str, str]]:
    """The (table, column) pairs an Unleash query reads, from its ``-- Reads:`` header."""
    header = _READS.search(queries.load(f"unleash/{query}"))
    if header is None:
        raise ValueError(f"sql/unleash/{query}.sql has no '-- Reads:' header")
    return [(table, column.strip()) for table, columns in _TABLE.findall(header.group(1)) for column in columns.split(",")]


def is_transient(error: adbc_driver_manager.Error, connecting: bool = False) -> bool:
    """Whether a driver error may pass if tried again (see ``TRANSIENT_STATES``)."""
    state = getattr(error, "sqlstate", None)
    if state:
        return state[:2] in TRANSIENT_STATES
    message = str(error)
    if "FATAL" in message:  # the server answered, and refused: wrong password, database, role, pg_hba
        return any(reason in message for reason in TRANSIENT_FATAL)
    if connecting and "Name or service not known" in message:  # a host name that does not exist
        return False
    return True  # no answer from the server: refused, reset, timed out


class PostgresSource:
    """An Unleash database named by a ``postgresql://`` URL (the password may come from PGPASSWORD)."""

    def __init__(self, url: str):
        self.url = url
        self.name = redacted(url)
        self.secret = urlsplit(url).password

    @contextmanager
    def session(self) -> Iterator[PostgresSession]:
        connection = self._connect()
        try:
            yield PostgresSession(self, connection)
        finally:
            for finish in (connection.rollback, connection.close):
                try:
                    finish()
                except adbc_driver_manager.Error:
                    pass  # the connection is gone already: nothing was written, nothing to undo

    def _connect(self):
        try:
            connection = adbc.connect(self.url)
            connection.adbc_connection.set_options(
                **{"adbc.connection.transaction.isolation_level": "adbc.connection.transaction.isolation.repeatable_read"}
            )
            return connection
        except adbc_driver_manager.Error as error:
            raise self.fault(f"cannot connect to the Unleash database at {self.name}", error, connecting=True) from None

    def fault(self, action: str, error: adbc_driver_manager.Error, connecting: bool = False) -> SourceError:
        """The driver's error as one line after ``action``: ``SourceUnavailable`` or ``SourceRefused``."""
        kind = SourceUnavailable if is_transient(error, connecting) else SourceRefused
        return kind(f"{action}: {self.clean(error)}{_hint(error)}")

    def clean(self, error: Exception) -> str:
        """The driver's message, first line only, with neither the URL nor the password in it."""
        message = str(error).replace(self.url, self.name)
        if self.secret:
            message = message.replace(self.secret, "***")
        return next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)


class PostgresSession:
    """One read of an Unleash database: one REPEATABLE READ, read-only transaction.

    Opening it checks the schema: ``chosen`` maps each query to the one that runs in its place
    (itself, its stand-in, or None for an optional query the database cannot answer).
    """

    def __init__(self, source: PostgresSource, connection):
        self.source, self.connection = source, connection
        self.cursor = connection.cursor()
        self._call(
            "SELECT set_config('transaction_read_only', 'on', true) AS read_only,"
            " set_config('statement_timeout', $1, true) AS timeout",
            (os.environ.get("INSIGHTS_STATEMENT_TIMEOUT", "30min"),),
        )
        self.extracted_at = self._call("SELECT now() AS extracted_at")[0][0].astimezone(dt.timezone.utc)
        self.chosen = self._choose_queries()

    def read(self, entity: str, since: object | None) -> Iterable[pa.RecordBatch] | None:
        names = [self.chosen[q] for q in QUERIES[entity] if self.chosen[q]]
        if not names:
            return None
        return self._stream(names, since)

    def _choose_queries(self) -> dict[str, str | None]:
        """Each query, or what runs in its place; refuses a schema or a role the run cannot work with."""
        every = [q for qs in QUERIES.values() for q in qs]
        asked = {q: reads(q) for q in every + [stand_in for stand_in, _ in STAND_INS.values()]}
        found = self._columns(sorted({column for columns in asked.values() for column in columns}))
        present = {column for column, (_, exists, _) in found.items() if exists}
        tables = {table for (table, _), (exists, _, _) in found.items() if exists}
        chosen, missing, denied, without = {}, [], [], []
        for query in every:
            runs, absent = query, [c for c in asked[query] if c not in present]
            stand_in, meaning = STAND_INS.get(query, (None, None))
            if absent and stand_in and present.issuperset(asked[stand_in]):
                without.append(f"{_lacking(absent, tables)} ({meaning})")
                runs, absent = stand_in, []
            unreadable = [c for c in asked[runs] if c in present and not found[c][2]]
            if (absent or unreadable) and query in OPTIONAL:
                lack = _lacking(absent, tables) if absent else f"no SELECT on {_columns(unreadable)}"
                without.append(f"{lack} ({OPTIONAL[query]})")
                chosen[query] = None
                continue
            missing += absent
            denied += unreadable
            chosen[query] = runs
        name = self.source.name
        if not {"events", "features"} & tables:
            raise SourceRefused(f"the database at {name} holds no Unleash tables (no events, no features): check the "
                                "database name, and search_path if Unleash uses another schema")
        if missing:
            raise SourceRefused(
                f"the database at {name} is not an Unleash database this version can read: it has "
                f"{_lacking(missing, tables)}; supported: {SUPPORTED}"
            )
        if denied:
            raise SourceRefused(f"the role connecting to {name} may not read {_columns(denied)}: grant SELECT on "
                                "them (docs/unleash-reader.sql grants all the pipeline reads)")
        if without:
            log.warning("the Unleash database at %s has %s; carrying on", name, "; ".join(without))
        return chosen

    def _columns(self, asked: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[bool, bool, bool]]:
        """Whether each (table, column)'s table exists, it exists, and it may be read, from the catalogs."""
        text = json.dumps([{"table_name": t, "column_name": c} for t, c in asked])
        rows = self._call(queries.load("unleash/columns"), (text,))
        return {(table, column): tuple(facts) for table, column, *facts in rows}

    def _stream(self, names: list[str], since: object | None) -> Iterator[pa.RecordBatch]:
        for name in names:
            self._call("SELECT set_config('insights.since', $1, true) AS since", (self._watermark(name, since),))
            try:
                self.cursor.execute(queries.load(f"unleash/{name}"))
                reader = self.cursor.fetch_record_batch()
                yield from reader
            except adbc_driver_manager.Error as error:
                raise self.source.fault(f"reading {name} from {self.source.name} failed", error) from None

    @staticmethod
    def _watermark(query: str, since: object | None) -> str:
        if since is None:
            return NO_WATERMARK.get(query, "-infinity")
        return since.isoformat() if isinstance(since, (dt.date, dt.datetime)) else str(since)

    def _call(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        try:
            self.cursor.execute(sql, parameters=parameters or None)
            return self.cursor.fetchall()
        except adbc_driver_manager.Error as error:
            raise self.source.fault(f"reading {self.source.name} failed", error) from None


def _lacking(columns: list[tuple[str, str]], tables: set[str]) -> str:
    """Missing columns as a reader says them: "no login_history table, no projects.archived_at column"."""
    return ", ".join(dict.fromkeys(f"no {t}.{c} column" if t in tables else f"no {t} table" for t, c in columns))


def _columns(columns: list[tuple[str, str]]) -> str:
    return ", ".join(dict.fromkeys(f"{t}.{c}" for t, c in columns))


def _hint(error: adbc_driver_manager.Error) -> str:
    message = str(error)
    if getattr(error, "sqlstate", None) == "42501" or "permission denied" in message:
        return " (grant SELECT as docs/unleash-reader.sql does)"
    if "password authentication failed" in message:
        return " (check the user, and the password in the URL, PGPASSWORD or ~/.pgpass)"
    return ""
