"""A real insights server on a free loopback port, in a thread of the test process; and any plain
HTTP handler served the same way (stand-ins for webhooks and for Unleash)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread of the test process, not its main thread
        pass


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve an ASGI app until the block ends; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def handling(handler: type[http.server.BaseHTTPRequestHandler], port: int = 0) -> Iterator[int]:
    """Serve a request handler class on a loopback port (a free one by default) until the block
    ends, each request in a thread; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
