"""A fake Confluence Cloud and Atlassian authorization server: real HTTP on 127.0.0.1.

Three servers share one `ConfluenceModel`: the site (`https://x.atlassian.net`, Basic auth on
/wiki/api/v2), the API gateway (`https://api.atlassian.com`: accessible-resources and 3LO calls
under /ex/confluence/{cloudId}) and the authorization server (`https://auth.atlassian.com`:
/authorize and /oauth/token with rotating refresh tokens). Every v2 exchange is checked against
Atlassian's OpenAPI description (`tests/fakes/confluence_openapi.py`).
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.confluence_api import V2Api
from tests.fakes.confluence_model import ConfluenceModel
from tests.fakes.confluence_openapi import SpecCheck, SpecRequest, SpecResponse

CLIENT_ID = "atl-client-id"
CLIENT_SECRET = "atl-client-secret"
Answer = tuple[int, dict[str, str], Any]


@dataclass
class AuthLog:
    authorize_queries: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    deny: bool = False


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAtlassian
    role: str  # "site", "api" or "auth"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, Nagle and delayed ACKs add ~40 ms to small answers.
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name: value for name, value in self.headers.items()}
        route = {"site": self.fake.site_route, "api": self.fake.api_route, "auth": self.fake.auth_route}[self.role]
        status, answer_headers, payload = route(method, parts.path, query, headers, body)
        self._send(status, answer_headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
        raw = _encoded(payload)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the tests, not an error of the fake.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _server(fake: FakeAtlassian, role: str) -> ThreadingHTTPServer:
    handler = type(f"{role.title()}Handler", (_Handler,), {"fake": fake, "role": role})
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


def _encoded(payload: Any) -> bytes:
    """An answer's body as sent: JSON, or the bytes a kept answer was encoded to once."""
    if isinstance(payload, bytes):
        return payload
    return b"" if payload is None else json.dumps(payload).encode()


def _error(status: int, title: str) -> Answer:
    return status, {}, {"errors": [{"status": status, "code": title.upper().replace(" ", "_"), "title": title,
                                    "detail": None}]}  # fmt: skip


class FakeAtlassian:
    """`site_url`, `api_url`, `auth_url`; `model` holds the data; `spec` the OpenAPI findings.

    `cache_answers` (for the bench, so that the fake's own JSON work is not measured): each v2 GET
    answer is encoded once and its bytes served again to the same path and query. Any other v2 call
    forgets them; a change made straight on `model` must be followed by `answers_forget()`."""

    def __init__(self, *, validate: bool = True, cache_answers: bool = False) -> None:
        self.model = ConfluenceModel()
        self.spec = SpecCheck()
        self.validate = validate
        self.cache_answers = cache_answers
        self._answers: dict[tuple[str, tuple], Answer] = {}
        self.auth_log = AuthLog()
        self.servers = {role: _server(self, role) for role in ("site", "api", "auth")}
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self.servers.values()
        ]
        self.api = V2Api(self.model, site_base=lambda: f"{self.site_url}/wiki")

    def _url(self, role: str) -> str:
        return f"http://127.0.0.1:{self.servers[role].server_port}"

    @property
    def site_url(self) -> str:
        return self._url("site")

    @property
    def api_url(self) -> str:
        return self._url("api")

    @property
    def auth_url(self) -> str:
        return self._url("auth")

    def __enter__(self) -> FakeAtlassian:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    # --- the site: Basic auth -------------------------------------------------------------------

    def site_route(self, method: str, path: str, query: list, headers: dict[str, str], body: bytes) -> Answer:
        if not path.startswith("/wiki/api/v2/"):
            return _error(404, "Not Found")
        expected = base64.b64encode(f"{self.model.email}:{self.model.api_token}".encode()).decode()
        authorised = headers.get("Authorization") == f"Basic {expected}"
        return self._v2(method, path, query, headers, body, authorised)

    # --- the gateway: 3LO bearer tokens ---------------------------------------------------------

    def api_route(self, method: str, path: str, query: list, headers: dict[str, str], body: bytes) -> Answer:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        self.model.requests.append((method, path))
        if path == "/oauth/token/accessible-resources":
            if not self.model.bearer_ok(token):
                return 401, {}, {"code": 401, "message": "Unauthorized"}
            return (
                200,
                {},
                [
                    {
                        "id": self.model.cloud_id,
                        "url": self.site_url,
                        "name": "fake-site",
                        "scopes": ["read:page:confluence", "write:page:confluence"],
                        "avatarUrl": "",
                    }
                ],
            )
        prefix = f"/ex/confluence/{self.model.cloud_id}"
        if not path.startswith(prefix + "/wiki/api/v2/"):
            return _error(404, "Not Found")
        return self._v2(method, path.removeprefix(prefix), query, headers, body, self.model.bearer_ok(token))

    def _v2(
        self, method: str, path: str, query: list, headers: dict[str, str], body: bytes, authorised: bool
    ) -> Answer:
        self.model.requests.append((method, path + ("?" + urlencode(query) if query else "")))
        if self.model.delay:
            time.sleep(self.model.delay)
        fault = self.model.take_fault(path)
        if not authorised:
            answer = _error(401, "Unauthorized")
        elif fault is not None:
            if fault.applied:
                self.api.answer(method, path.removeprefix("/wiki/api/v2"), query, body)
            answer = (fault.status, fault.headers, _error(fault.status, HTTPStatus(fault.status).phrase)[2])
        else:
            answer = self._answer(method, path.removeprefix("/wiki/api/v2"), query, body)
        self.model.answer_statuses.append(answer[0])
        if self.validate:
            self._check(method, path, query, headers, body, answer)
        return answer

    def _answer(self, method: str, path: str, query: list, body: bytes) -> Answer:
        if not self.cache_answers:
            return self.api.answer(method, path, query, body)
        if method != "GET":
            self.answers_forget()
            return self.api.answer(method, path, query, body)
        key = (path, tuple(query))
        if key not in self._answers:
            status, headers, payload = self.api.answer(method, path, query, body)
            self._answers[key] = (status, headers, _encoded(payload))
        return self._answers[key]

    def answers_forget(self) -> None:
        """Drop the kept answers: the next GETs are rendered from the model again."""
        self._answers.clear()

    def _check(self, method: str, path: str, query: list, headers: dict[str, str], body: bytes, answer: Answer) -> None:
        content_type = headers.get("Content-Type", "application/json" if body else "")
        request = SpecRequest(
            path=path, method=method.lower(), query=query, headers=headers, body=body or None, content_type=content_type
        )
        status, answer_headers, payload = answer
        data = _encoded(payload)
        self.spec.check(request, SpecResponse(status_code=status, data=data, headers=answer_headers))

    # --- the authorization server ---------------------------------------------------------------

    def auth_route(self, method: str, path: str, query: list, headers: dict[str, str], body: bytes) -> Answer:
        if method == "GET" and path == "/authorize":
            return self._authorize(dict(query))
        if method == "POST" and path == "/oauth/token":
            return self._token(headers, body)
        return 404, {}, {"error": "not_found"}

    def _authorize(self, params: dict[str, str]) -> Answer:
        self.auth_log.authorize_queries.append(params)
        wanted = {"audience": "api.atlassian.com", "client_id": CLIENT_ID, "response_type": "code", "prompt": "consent"}
        if (
            any(params.get(key) != value for key, value in wanted.items())
            or "offline_access" not in params.get("scope", "").split()
        ):
            return 400, {}, {"error": "invalid_request"}
        if self.auth_log.deny:
            target = {"error": "access_denied", "state": params["state"]}
        else:
            code = secrets.token_urlsafe(12)
            self.model.tokens.codes[code] = params["redirect_uri"]
            target = {"code": code, "state": params["state"]}
        return 302, {"Location": f"{params['redirect_uri']}?{urlencode(target)}"}, None

    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        if not headers.get("Content-Type", "").startswith("application/json"):
            return 400, {}, {"error": "invalid_request", "error_description": "JSON body expected"}
        form = json.loads(body or b"{}")
        self.auth_log.token_requests.append(form)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {}, {"error": "access_denied", "error_description": "Unauthorized"}
        if form.get("grant_type") == "authorization_code":
            redirect = self.model.tokens.codes.pop(form.get("code", ""), None)
            if redirect is None or redirect != form.get("redirect_uri"):
                return 403, {}, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            return 200, {}, self.model.issue_tokens()
        if form.get("grant_type") == "refresh_token":
            tokens = self.model.rotate(form.get("refresh_token", ""))
            if tokens is None:
                return 403, {}, {"error": "unauthorized_client", "error_description": "refresh_token is invalid"}
            return 200, {}, tokens
        return 400, {}, {"error": "unsupported_grant_type"}
