"""HTTP details the server gets right by the RFCs: content codings, entity tags, values echoed back."""

from __future__ import annotations

ECHOED_CHARACTERS = 40
"""How much of a client's value an error message repeats: enough to recognise it, never a whole upload."""


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (RFC 9110 §12.5.3): codings are
    case-insensitive, ``q=0`` refuses one, and ``*`` stands for any coding not named."""
    named: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, _, parameters = item.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding:
            named[coding.strip().lower()] = quality
    for coding in ("gzip", "x-gzip"):
        if coding in named:
            return named[coding] > 0
    return named.get("*", 0) > 0


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names the current representation (RFC 9110 §13.1.2): ``*``, or any
    of its entity tags equal to ``etag`` by weak comparison (``W/`` aside, the opaque tags equal)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = _opaque(etag)
    return any(_opaque(tag) == ours for tag in if_none_match.split(","))


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def shown(value: str) -> str:
    """A client's value as an error message repeats it: cut short, and said to be cut."""
    return value if len(value) <= ECHOED_CHARACTERS else f"{value[:ECHOED_CHARACTERS]}… ({len(value)} characters)"
