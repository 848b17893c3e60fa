"""A fake OAuth 2.0 provider on 127.0.0.1: /authorize consents (or denies), /token checks PKCE."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

CLIENT_ID = "fake-client"
CLIENT_SECRET = "fake-client-secret"


@dataclass
class ProviderState:
    deny: bool = False
    token_fails: bool = False
    # Fault switch: /token answers exactly this (status, content type, body), e.g. an HTML 502 or a 200 of text.
    token_reply: tuple[int, str, bytes] | None = None
    # code -> (redirect_uri, code_challenge)
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    issued_access_tokens: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    state: ProviderState

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path != "/authorize" or query.get("client_id") != CLIENT_ID:
            return self._json(400, {"error": "invalid_request"})
        if self.state.deny:
            params = {"error": "access_denied", "state": query["state"]}
        else:
            code = secrets.token_urlsafe(16)
            self.state.codes[code] = (query["redirect_uri"], query.get("code_challenge"))
            params = {"code": code, "state": query["state"]}
        self.send_response(302)
        self.send_header("Location", f"{query['redirect_uri']}?{urlencode(params)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.state.token_requests.append(form)
        if self.state.token_fails:
            return self._json(500, {"error": "server_error"})
        if self.state.token_reply is not None:
            return self._raw(*self.state.token_reply)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return self._json(401, {"error": "invalid_client"})
        issued = self.state.codes.pop(form.get("code", ""), None)
        if issued is None or issued[0] != form.get("redirect_uri") or not _pkce_ok(issued[1], form):
            return self._json(400, {"error": "invalid_grant"})
        access = "fake-access-" + secrets.token_urlsafe(12)
        self.state.issued_access_tokens.append(access)
        self._json(
            200,
            {
                "access_token": access,
                "refresh_token": "fake-refresh-" + secrets.token_urlsafe(12),
                "expires_in": 3600,
                "token_type": "Bearer",
                "email": "ann@fake.example",
            },
        )

    def _json(self, status: int, body: dict) -> None:
        self._raw(status, "application/json", json.dumps(body).encode())

    def _raw(self, status: int, content_type: str, raw: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _pkce_ok(challenge: str | None, form: dict[str, str]) -> bool:
    if challenge is None:
        return True
    verifier = form.get("code_verifier", "")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return computed == challenge


class FakeOAuthProvider:
    def __init__(self) -> None:
        self.state = ProviderState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeOAuthProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
