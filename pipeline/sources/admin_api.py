"""Unleash's Admin API, as a source reads it: the client every request goes through, and the probe.

For an Unleash whose database is out of reach (a hosted instance, a database another team owns),
the lake's entities come from its Admin API with an admin token (issue #21). This module is the
part every read shares; the entity reads build on it.

* **The token** comes from ``INSIGHTS_UNLEASH_TOKEN`` or the file ``INSIGHTS_UNLEASH_TOKEN_FILE``
  names, never from the command line; it travels only in the ``Authorization`` header, and no
  error, log line or counter holds it.
* **Polite:** at most ``concurrency`` requests at once (default 4), a timeout per request, a
  pause wherever the server's rate limit is spent (its ``RateLimit-Remaining`` says 0: Unleash 8.2
  allows 15 feature searches a minute by default) until ``RateLimit-Reset``, and retries with exponential backoff on 429 and 5xx answers (honouring ``Retry-After``), dropped
  connections, timeouts and truncated bodies. What still fails is ``SourceUnavailable`` (worth a
  later run); what can never work (a refused token, a token that is not an admin's, a URL that is
  not Unleash, a version too old) is ``SourceRefused``, as the database source tells them apart.
* **Counted:** the requests made, bytes read, seconds spent and seconds waited for a rate limit,
  for the manifest and the log.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pipeline.sources.base import SourceRefused, SourceUnavailable

log = logging.getLogger(__name__)

OLDEST = (6, 1)
"""The oldest Unleash this source reads: before 6.1 events can only be searched by POST, a page of 100."""
RETRIED = {429, 500, 502, 503, 504}
"""Answers worth another try: too many requests, and a server or its proxy failing for now."""
LONGEST_WAIT = 60.0
"""The longest pause before a retry, whatever ``Retry-After`` asks."""


def token_from_environment() -> str:
    """The admin token: ``INSIGHTS_UNLEASH_TOKEN``, else the first line of the file
    ``INSIGHTS_UNLEASH_TOKEN_FILE`` names; ``SourceRefused`` where neither gives one."""
    token = os.environ.get("INSIGHTS_UNLEASH_TOKEN", "").strip()
    path = os.environ.get("INSIGHTS_UNLEASH_TOKEN_FILE", "").strip()
    if not token and path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError):
            raise SourceRefused(f"INSIGHTS_UNLEASH_TOKEN_FILE={path}: no token could be read from it") from None
    if not token:
        raise SourceRefused("an Unleash URL as the source needs an admin token: set INSIGHTS_UNLEASH_TOKEN, or "
                            "INSIGHTS_UNLEASH_TOKEN_FILE to a file holding it (never on the command line)")
    return token


def base_url(url: str) -> str:
    """The instance's address without a trailing slash (Unleash may sit under a path);
    ``SourceRefused`` for anything but an http(s) address with a host, no credentials, no query."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise SourceRefused("an Unleash source is the instance's web address, such as https://unleash.example.com "
                            "(the token goes in INSIGHTS_UNLEASH_TOKEN, not in the address)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class UnleashApi:
    """One Unleash's Admin API over HTTP: JSON answers of GET requests, retried and counted."""

    def __init__(self, url: str, token: str, concurrency: int = 4, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.5):
        self.base = base_url(url)
        self.concurrency, self.retries, self.backoff = concurrency, retries, backoff
        self._client = httpx.Client(headers={"Authorization": token, "Accept": "application/json"}, timeout=timeout,
                                    limits=httpx.Limits(max_connections=concurrency), follow_redirects=False)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._counting = threading.Lock()
        self.requests, self.bytes, self.seconds, self.waited = 0, 0, 0.0, 0.0
        self._spent: dict[str, float] = {}  # address -> when (monotonic) its rate limit is renewed

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer to ``GET <base><path>``, after retries where the failure may pass."""
        where = f"{self.base}{path}"
        for attempt in itertools.count():
            answer = self._attempt(where, params)
            if not isinstance(answer, _Retry):
                return answer
            if attempt == self.retries:
                raise SourceUnavailable(f"{where}: {answer.why}, {attempt + 1} times; nothing was landed, try again "
                                        "later")
            time.sleep(self._pause(attempt, answer.retry_after))

    def _attempt(self, where: str, params: dict[str, Any] | None) -> Any:
        """One request: its JSON answer, or a ``_Retry`` saying why another may do better."""
        self._wait_for_limit(where)
        with self._slots:
            began = time.perf_counter()
            try:
                response = self._client.get(where, params=params)
                body = response.content
            except httpx.TransportError as error:  # refused, dropped, timed out, or cut short
                self._count(began, 0)
                return _Retry(_transport(error))
            self._count(began, len(body))
        self._note_limit(where, response.headers)
        if response.status_code in RETRIED:
            return _Retry(f"answered {response.status_code}", response.headers.get("Retry-After"))
        _refuse(response.status_code, where)
        try:
            return json.loads(body)
        except ValueError:
            if response.headers.get("Content-Type", "").startswith("application/json"):
                return _Retry("answered JSON cut short")
            raise SourceRefused(f"{where} did not answer JSON: is {self.base} an Unleash?") from None

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        """How long to wait before the next try: what ``Retry-After`` asks (seconds or a date), else
        exponential backoff; at most ``LONGEST_WAIT``."""
        wait = self.backoff * 2 ** attempt
        if retry_after:
            if retry_after.strip().isdigit():
                wait = float(retry_after.strip())
            elif (when := email.utils.parsedate_to_datetime(retry_after)) is not None:
                wait = when.timestamp() - time.time()
        return min(max(wait, 0.0), LONGEST_WAIT)

    def _note_limit(self, where: str, headers: httpx.Headers) -> None:
        """Where an answer says the rate limit of its address is spent (``RateLimit-Remaining: 0``),
        remember when ``RateLimit-Reset`` (seconds) renews it."""
        remaining, reset = headers.get("RateLimit-Remaining", ""), headers.get("RateLimit-Reset", "")
        if remaining.strip() == "0" and reset.strip().isdigit():
            with self._counting:
                renewed = time.monotonic() + min(float(reset), LONGEST_WAIT)
                self._spent[where] = max(self._spent.get(where, 0.0), renewed)

    def _wait_for_limit(self, where: str) -> None:
        """Wait, outside the concurrency slots, until the rate limit of ``where`` is renewed."""
        with self._counting:
            wait = self._spent.get(where, 0.0) - time.monotonic()
        if wait > 0:
            log.info("%s allows no more requests for now (its rate limit): waiting %.0f s", where, wait)
            time.sleep(wait)
            with self._counting:
                self.waited += wait

    def _count(self, began: float, size: int) -> None:
        with self._counting:
            self.requests += 1
            self.bytes += size
            self.seconds += time.perf_counter() - began

    @property
    def counts(self) -> dict[str, float]:
        """Requests made, bytes read, seconds spent and seconds waited for a rate limit so far: for the
        manifest and the log."""
        return {"requests": self.requests, "bytes": self.bytes, "seconds": round(self.seconds, 3),
                "waited_seconds": round(self.waited, 3)}

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class _Retry:
    """A failed attempt that another may not repeat: why, and when the server asks to be tried again."""

    why: str
    retry_after: str | None = None


def _refuse(status: int, where: str) -> None:
    """``SourceRefused`` for an answer no retry changes; nothing for a success."""
    if status == 401:
        raise SourceRefused(f"{where} refused the token (401): set INSIGHTS_UNLEASH_TOKEN to a valid admin token")
    if status == 403:
        raise SourceRefused(f"{where} answered 403: the token is not an admin's (use a root admin's personal access "
                            "token, an admin service account's token, or an admin API token)")
    if status == 404:
        raise SourceRefused(f"{where} is not there (404): is this the address of an Unleash 6.1 or later?")
    if not 200 <= status < 300:
        raise SourceRefused(f"{where} answered {status}")


def _transport(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(error, httpx.ConnectError):
        return "could not connect"
    return "the connection was dropped"


@dataclass(frozen=True)
class Instance:
    """What the probe learnt: Unleash's version, its edition (``Open Source``, ``Pro`` or
    ``Enterprise``) and whether it keeps daily metrics (``extendedUsageMetrics``)."""

    version: tuple[int, int, int]
    edition: str
    daily_metrics: bool


def probe(api: UnleashApi) -> Instance:
    """Ask ``/api/admin/ui-config`` what the instance is, and ``/api/admin/user-admin`` whether the
    token is an admin's; ``SourceRefused`` for what this source cannot read."""
    config = api.get("/api/admin/ui-config")
    current = (config.get("versionInfo") or {}).get("current") if isinstance(config, dict) else None
    text = (current or {}).get("enterprise") or (current or {}).get("oss") or ""
    try:
        version = tuple(int(part) for part in text.split("-")[0].split(".")[:3])
    except ValueError:
        version = ()
    if len(version) != 3:
        raise SourceRefused(f"{api.base} does not say which Unleash it is (no version in /api/admin/ui-config): "
                            "is it an Unleash?")
    if version[:2] < OLDEST:
        raise SourceRefused(f"{api.base} is Unleash {text}; its Admin API can be read from 6.1 on: upgrade it, or "
                            "read its database (--source postgresql://…)")
    api.get("/api/admin/user-admin")  # needs the ADMIN permission: a 403 says the token is no admin's
    flags = config.get("flags") or {}
    return Instance(version, str(config.get("environment") or "Open Source"), bool(flags.get("extendedUsageMetrics")))
