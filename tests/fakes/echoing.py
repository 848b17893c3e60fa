"""A fake upstream (real HTTP on 127.0.0.1) that refuses every request and echoes the credentials it got.

Some APIs repeat what they were sent in their error bodies ("invalid client 'id:secret'"). This one
answers 400 with the Authorization header as sent, its Basic credentials decoded, and the request
body, in a JSON error body that Confluence's, Haiilo's and OAuth's error readers all look at.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def echoed_credentials(authorization: str, body: bytes) -> str:
    """What the fake repeats back: the header, the Basic pair decoded, and the body."""
    decoded = ""
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[6:]).decode(errors="replace")
        except (binascii.Error, ValueError):
            decoded = ""
    return f"Refused {authorization} (user and password {decoded}) for {body.decode(errors='replace')}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        said = echoed_credentials(self.headers.get("Authorization", ""), self.rfile.read(length) if length else b"")
        self.server.received.append(said)  # type: ignore[attr-defined]
        raw = json.dumps(
            {"message": said, "error": "invalid_request", "error_description": said, "errors": [{"title": said}]}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _refuse


class EchoingUpstream:
    """`with EchoingUpstream() as echo:`; `echo.received` holds what it echoed, one line per request."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.received = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def received(self) -> list[str]:
        return self.server.received  # type: ignore[attr-defined]

    def __enter__(self) -> EchoingUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
