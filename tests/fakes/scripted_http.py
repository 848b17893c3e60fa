"""A scripted upstream, real HTTP on loopback: answers from per-path queues, records requests."""

from __future__ import annotations

import json
import ssl
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

NOTHING_SCRIPTED = 599  # so a test that forgot a response fails loudly, not with a plausible 404


@dataclass(frozen=True)
class Scripted:
    """One answer: a dict or list body is sent as JSON."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict[str, Any] | list[Any] = b""

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        return (self.body.encode() if isinstance(self.body, str) else self.body), headers


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self.rfile.read(length) if length else b""
        scripted = self.server.owner.record_and_pop(Recorded(self.command, self.path, headers, body))
        raw, response_headers = scripted.encoded()
        self.send_response(scripted.status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedHttpServer


class ScriptedHttpServer:
    """`with ScriptedHttpServer() as server: server.script("/x", Scripted(503), Scripted(200))`."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server context, to answer HTTPS (the handshake happens as each connection is accepted)."""
        self.host = host
        self.scheme = "https" if tls else "http"
        self.requests: list[Recorded] = []
        self._queues: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        # A short poll keeps shutdown (and so every test's teardown) fast.
        serve = partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self._server.server_port}"

    @property
    def port(self) -> int:
        return self._server.server_port

    def script(self, path: str, *responses: Scripted) -> None:
        """Queue answers for a path (matched without its query string), used in order."""
        with self._lock:
            self._queues[path].extend(responses)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if urlsplit(r.path).path == path]

    def record_and_pop(self, request: Recorded) -> Scripted:
        with self._lock:
            self.requests.append(request)
            queue = self._queues[urlsplit(request.path).path]
            return queue.popleft() if queue else Scripted(NOTHING_SCRIPTED, body="nothing scripted")

    def __enter__(self) -> ScriptedHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
