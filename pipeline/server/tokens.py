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
