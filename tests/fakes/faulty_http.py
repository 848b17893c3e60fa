"""An upstream that misbehaves at the socket level, real TCP on loopback: the faults an HTTP server
library will not produce (a trickled answer, a lying Content-Length, a body without end, a reset).

The path picks the fault; `requests` counts what arrived per path, `sent` the body bytes each path
managed to write before the client hung up. `release` lets a held answer go on (a body never sent).
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections import Counter
from typing import Self

CHUNK = 16 * 1024


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        path = self._read_request()
        if path is None:
            return
        owner = self.server.owner
        owner.note(path)
        name = owner.every_path or path.strip("/").split("?")[0]
        fault = getattr(self, "_" + name.replace("-", "_"), None)
        try:
            (fault or self._not_found)()
        except OSError:  # the client hung up: what was sent is counted
            pass

    def _read_request(self) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = self.request.recv(4096)
            if not piece:
                return None
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(v) for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "content-length"), 0)
        while len(body) < length:
            body += self.request.recv(4096)
        return lines[0].split(" ")[1]

    def _send(self, data: bytes) -> None:
        self.request.sendall(data)

    def _count(self, path: str, data: bytes) -> None:
        self._send(data)
        self.server.owner.sent[path] += len(data)

    def _not_found(self) -> None:
        self._send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def _trickle_body(self) -> None:
        """A 200 of 1,000 bytes, one every `interval` seconds."""
        self._send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            self._count("/trickle-body", b" ")  # counted under its fault's name
            time.sleep(self.server.owner.interval)

    def _trickle_headers(self) -> None:
        """The status line and headers themselves, one byte every `interval` seconds, without end."""
        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000:
            self._count("/trickle-headers", bytes([byte]))
            time.sleep(self.server.owner.interval)

    def _declared_large(self) -> None:
        """Headers saying 10 MB, then the body only once released."""
        self._send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n")
        self.server.owner.released.wait(10)
        for _ in range(10485760 // CHUNK):
            self._count("/declared-large", b"x" * CHUNK)

    def _endless(self) -> None:
        """A body without Content-Length, closed by the server: up to 64 MB, as long as the client reads."""
        self._send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        for _ in range(64 * 1024 * 1024 // CHUNK):
            self._count("/endless", b"x" * CHUNK)

    def _truncated(self) -> None:
        """Content-Length 1000, 10 bytes of JSON, then the connection closes."""
        self._send(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a": [1, ')

    def _reset(self) -> None:
        """The request is read, then the connection is reset without an answer (RST, not FIN)."""
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultyUpstream

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class FaultyUpstream:
    """`with FaultyUpstream(interval=0.2) as server: client.get(server.url + "/trickle-body")`."""

    def __init__(self, *, interval: float = 1.0, every_path: str | None = None) -> None:
        self.interval = interval
        self.every_path = every_path  # one fault ("trickle-body") for whatever path a client asks
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def note(self, path: str) -> None:
        with self._lock:
            self.requests[path.split("?")[0]] += 1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
