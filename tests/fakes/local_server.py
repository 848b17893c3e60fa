"""The common part of the fake upstreams: a threaded HTTP server on a free port of 127.0.0.1, started on
entering a `with` block and stopped on leaving it. Each fake gives its handler class (with its state
bound as class attributes) and keeps its own state and helpers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LocalServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], **bound: Any) -> None:
        """Serve `handler`, subclassed with `bound` as class attributes (the fake's state)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (handler,), bound))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
