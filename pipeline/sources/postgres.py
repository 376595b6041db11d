"""The PostgreSQL source: a self-hosted Unleash database (Unleash 6, 7 and 8 schemas), read-only.

Every entity is read in one ``REPEATABLE READ``, read-only transaction, so the tables agree with
each other. The queries are ``sql/unleash/*.sql``; none selects a name, username, e-mail, IP,
strategy parameter or constraint value. Watermarks reach the queries as a transaction-local
setting (``set_config('insights.since', $1, true)``, a bound parameter), so the queries themselves
take no parameters and the driver streams them with binary ``COPY``.

Driver: ADBC's PostgreSQL driver. It runs each query as ``COPY … TO STDOUT (FORMAT binary)`` and
decodes the rows into Arrow record batches in C++, so rows never become Python objects; a
reader yields batches as they arrive, so memory stays flat whatever the table size. psycopg 3's
binary COPY would hand rows to Python one by one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from contextlib import contextmanager
from typing import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from pipeline import queries
from pipeline.sources.base import SourceError

log = logging.getLogger(__name__)

REQUIRED = ("events", "features", "feature_types", "feature_environments", "environments", "projects", "users",
            "roles", "role_user", "client_metrics_env")
"""Tables every Unleash 6+ database has."""

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

NEEDS: dict[str, tuple[str, ...]] = {
    "token_activity": ("personal_access_tokens",),
    "login_history": ("login_history",),
    "group_roles": ("group_role", "group_user"),
    "feature_lifecycles": ("feature_lifecycles",),
    "client_metrics_daily": ("client_metrics_env_daily",),
}
"""Tables older Unleash versions may lack, by the query that reads them."""

NO_WATERMARK = {"events": "0"}


class SourceUnavailable(SourceError):
    """The database could not be reached or read: the run failed, nothing was landed."""


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
            raise SourceUnavailable(f"cannot connect to the Unleash database at {self.name}: {self.clean(error)}") from None

    def clean(self, error: Exception) -> str:
        """The driver's message, first line only, with neither the URL nor the password in it."""
        message = str(error).replace(self.url, self.name)
        if self.secret:
            message = message.replace(self.secret, "***")
        return next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)


class PostgresSession:
    """One read of an Unleash database: one REPEATABLE READ, read-only transaction."""

    def __init__(self, source: PostgresSource, connection):
        self.source, self.connection = source, connection
        self.cursor = connection.cursor()
        self._call(
            "SELECT set_config('transaction_read_only', 'on', true) AS read_only,"
            " set_config('statement_timeout', $1, true) AS timeout",
            (os.environ.get("INSIGHTS_STATEMENT_TIMEOUT", "30min"),),
        )
        self.extracted_at = self._call("SELECT now() AS extracted_at")[0][0].astimezone(dt.timezone.utc)
        absent = [t for t in REQUIRED if not self._exists(t)]
        if absent:
            raise SourceUnavailable(
                f"the database at {source.name} is not an Unleash 6+ database: it has no {', '.join(absent)} "
                "table (check the database name, and search_path if Unleash uses another schema)"
            )
        self.missing = {t for t in sorted({t for needs in NEEDS.values() for t in needs}) if not self._exists(t)}
        if self.missing:
            log.warning("the Unleash database at %s has no %s table (an older Unleash): carrying on without",
                        source.name, ", ".join(sorted(self.missing)))

    def read(self, entity: str, since: object | None) -> Iterable[pa.RecordBatch] | None:
        names = [q for q in QUERIES[entity] if not set(NEEDS.get(q, ())) & self.missing]
        if not names:
            return None
        return self._stream(names, since)

    def _stream(self, names: list[str], since: object | None) -> Iterator[pa.RecordBatch]:
        for name in names:
            self._call("SELECT set_config('insights.since', $1, true) AS since", (self._watermark(name, since),))
            try:
                self.cursor.execute(queries.load(f"unleash/{name}"))
                reader = self.cursor.fetch_record_batch()
                yield from reader
            except adbc_driver_manager.Error as error:
                raise SourceUnavailable(f"reading {name} from {self.source.name} failed: {self.source.clean(error)}") from None

    def _exists(self, table: str) -> bool:
        return self._call("SELECT to_regclass($1) IS NOT NULL AS found", (table,))[0][0]

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
            raise SourceUnavailable(f"reading {self.source.name} failed: {self.source.clean(error)}") from None
