"""How the insights server holds its connections: a deadline for each request, few enough connections
that the process never runs out of file descriptors, and one log line, not a flood, when it is full.

uvicorn closes a keep-alive connection idle between requests (``KEEP_ALIVE_SECONDS``), but not one
that never finishes sending its request, and it accepts connections until ``accept`` fails for
want of descriptors, which asyncio then logs with a traceback at every retry. Here:

* a request (its headers and body) must arrive whole within ``REQUEST_SECONDS`` of its first byte,
  or of the connection's opening; else the connection is closed;
* past ``limit`` open connections, a new one's request is answered 503 (uvicorn's
  ``limit_concurrency``), and past ``limit`` plus a margin a new connection is closed at once, so
  descriptors never run out (``limit`` is kept well below the process's file limit, which is raised
  to its hard limit first); reaching the limit is logged once, until connections fall back under it;
* a failed ``accept`` is one log line a minute, without traceback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket
import time

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

REQUEST_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
GRACEFUL_SECONDS = 5
"""On Ctrl-C or SIGTERM, answers in flight get this long before their connections are closed."""
RESERVED_DESCRIPTORS = 128
"""Descriptors kept for everything but client connections: the data directory's files, logs, pipes."""


class CannotListen(RuntimeError):
    """The address or port to listen on cannot be had: one line, saying what to do."""


def bound(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` and listening, before the server says it serves;
    ``CannotListen`` where it cannot be (a port another process holds, an address not this machine's)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except socket.gaierror as error:
        raise CannotListen(f"cannot listen on {host}: {error.strerror}; pass --host an address of this machine") from None
    except OSError as error:
        hint = ("another process listens there: stop it, or pass --port another port" if error.errno == errno.EADDRINUSE
                else "pass --host an address of this machine and --port a free port")
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise CannotListen(f"cannot listen on {host}:{port}: {reason}; {hint}") from None


def connection_limit(wanted: int) -> int:
    """The connection limit to use: ``wanted``, or fewer where the file limit (raised to its hard
    limit) leaves less room beside ``RESERVED_DESCRIPTORS``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(1, min(wanted, (soft - RESERVED_DESCRIPTORS) * 3 // 4))


def serve(app, listening: socket.socket, limit: int) -> None:
    """Serve ``app`` on a bound, listening socket until SIGINT or SIGTERM."""
    config = uvicorn.Config(app, http=_guarded(limit), limit_concurrency=limit, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, access_log=False, log_level="warning",
                            server_header=False, proxy_headers=False)
    logging.getLogger("uvicorn.error").addFilter(_without_limit_warnings)
    server = uvicorn.Server(config)

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(_AcceptFailures())
        await server.serve(sockets=[listening])

    asyncio.run(run())


def _without_limit_warnings(record: logging.LogRecord) -> bool:
    return record.getMessage() != "Exceeded concurrency limit."  # said once, by the protocol below


class _AcceptFailures:
    """The event loop's exception handler: a failed ``accept`` once a minute, in one line."""

    def __init__(self):
        self.said = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if "accept" in context.get("message", ""):
            if time.monotonic() - self.said > 60:
                self.said = time.monotonic()
                log.warning("cannot accept connections: %s; open connections are answered meanwhile",
                            context.get("exception") or context["message"])
            return
        loop.default_exception_handler(context)


def _guarded(limit: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline for each request and the connection limit said once."""
    hard_limit = limit + max(16, limit // 8)
    full = {"said": False}

    class Guarded(H11Protocol):
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > hard_limit:
                transport.abort()  # no descriptor held for it: the client sees the connection closed
                return
            if len(self.connections) > limit and not full["said"]:
                full["said"] = True
                log.warning("%d connections open, the limit: new clients are answered 503 until some close "
                            "(idle ones close after %d s)", limit, KEEP_ALIVE_SECONDS)
            self._await_request()

        def connection_lost(self, exc) -> None:
            self._stop_waiting()
            super().connection_lost(exc)
            if full["said"] and len(self.connections) < limit * 9 // 10:
                full["said"] = False

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.is_closing():
                return
            receiving = self.conn.their_state is h11.SEND_BODY or (
                self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0]))
            if receiving:
                self._await_request()
            else:
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # from here uvicorn's keep-alive timeout closes an idle connection
            self._stop_waiting()

        def _await_request(self) -> None:
            if self.deadline is None:
                self.deadline = self.loop.call_later(REQUEST_SECONDS, self._too_slow)

        def _stop_waiting(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _too_slow(self) -> None:
            self.deadline = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                self.transport.close()

    return Guarded
