"""The insights server's tokens: configured through the environment or a file, never an argument.

``INSIGHTS_WEB_TOKENS_FILE`` names a file of tokens, one a line (blank lines and ``#`` comments
skipped); ``INSIGHTS_WEB_TOKENS`` holds tokens separated by commas or spaces. Both may be set. A
request presents one as Unleash's API takes a token: ``Authorization: <token>`` or
``Authorization: Bearer <token>``; it is compared with every configured token in constant time.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import threading
import time
from pathlib import Path

SHORTEST = 16
"""Tokens shorter than this are refused: they could be guessed."""


class TokensMissing(RuntimeError):
    """No usable token is configured: the server refuses to start."""


class Tokens:
    """The tokens a request may present."""

    def __init__(self, tokens: list[str]):
        short = [t for t in tokens if len(t) < SHORTEST]
        if short:
            raise TokensMissing(f"{len(short)} configured token(s) are shorter than {SHORTEST} characters: use long "
                                "random ones, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if not tokens:
            raise TokensMissing(
                "no token is configured, so nobody could call the server: put tokens in a file, one a line, and set "
                "INSIGHTS_WEB_TOKENS_FILE to its path (or set INSIGHTS_WEB_TOKENS); make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        self._tokens = [t.encode() for t in tokens]

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Tokens":
        """The tokens ``INSIGHTS_WEB_TOKENS_FILE`` and ``INSIGHTS_WEB_TOKENS`` configure."""
        environ = os.environ if environ is None else environ
        tokens = [t for t in re.split(r"[\s,]+", environ.get("INSIGHTS_WEB_TOKENS", "")) if t]
        path = environ.get("INSIGHTS_WEB_TOKENS_FILE")
        if path:
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except OSError as error:
                raise TokensMissing(f"cannot read the tokens file {path}: {error.strerror or error}") from None
            tokens += [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        return cls(tokens)

    def admit(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries one of the tokens (every token is compared)."""
        if not authorization:
            return False
        given = authorization.strip()
        if given[:7].lower() == "bearer ":
            given = given[7:].strip()
        presented = given.encode()
        admitted = False
        for token in self._tokens:
            admitted |= hmac.compare_digest(token, presented)
        return admitted


class Sessions:
    """Browser sessions of people who signed in with a token: random ids, kept in memory for 12 hours.

    The cookie holds a session id, never the token; a restart signs everyone out.
    """

    LIFETIME_SECONDS = 12 * 3600

    def __init__(self):
        self._expiry: dict[str, float] = {}
        self._guard = threading.Lock()

    def open(self) -> str:
        """A new session's id."""
        session = secrets.token_urlsafe(32)
        with self._guard:
            now = time.monotonic()
            self._expiry = {s: e for s, e in self._expiry.items() if e > now}
            self._expiry[session] = now + self.LIFETIME_SECONDS
        return session

    def admit(self, session: str | None) -> bool:
        """Whether a cookie's session id names a live session."""
        with self._guard:
            expiry = self._expiry.get(session or "")
        return expiry is not None and expiry > time.monotonic()

    def close(self, session: str | None) -> None:
        with self._guard:
            self._expiry.pop(session or "", None)
