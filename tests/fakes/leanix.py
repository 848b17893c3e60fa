"""A fake SAP LeanIX (real HTTP on 127.0.0.1): MTM tokens and the Integration API, checked by its Swagger.

The model and its switches are in tests/fakes/leanix_workspace.py; every exchange is checked against
the official Swagger (tests/fakes/leanix_openapi.py), and `spec.violations` must stay empty.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlparse

from tests.fakes.leanix_openapi import API_PREFIX, SpecCheck, SpecRequest, SpecResponse
from tests.fakes.leanix_workspace import Run, Workspace
from tests.fakes.local_server import LocalServer

TOKEN_PATH = "/services/mtm/v1/oauth2/token"
RUN_PATH = re.compile(rf"^{API_PREFIX}/synchronizationRuns/([^/]+)/(start|status|stop|warnings|results)$")
SHIPPED = Path(__file__).resolve().parents[2] / "connectors" / "leanix" / "processors"


class _Handler(BaseHTTPRequestHandler):
    workspace: Workspace
    spec: SpecCheck
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, delayed ACKs add 40 ms to each answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self._serve("GET", b"")

    def do_POST(self) -> None:
        self._serve("POST", self._body())

    def do_PUT(self) -> None:
        self._serve("PUT", self._body())

    def do_DELETE(self) -> None:
        self._serve("DELETE", self._body())

    def _serve(self, method: str, body: bytes) -> None:
        url = urlparse(self.path)
        self.workspace.requests.append((method, url.path))
        status, answer, extra = self._answer(method, url.path, parse_qs(url.query), body)
        raw = b"" if answer is None else json.dumps(answer).encode()
        request = SpecRequest(
            path=url.path, method=method.lower(), query=parse_qsl(url.query), headers=dict(self.headers.items()),
            body=body or None, content_type=self.headers.get("Content-Type", "application/json"),
        )  # fmt: skip
        self.spec.check(request, SpecResponse(status, raw, {"Content-Type": "application/json"}))
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _answer(self, method: str, path: str, query: dict, body: bytes) -> tuple[int, Any, dict[str, str]]:
        ws = self.workspace
        if path == TOKEN_PATH and method == "POST":
            return self._token(body)
        if not path.startswith(API_PREFIX):
            return 404, {"errors": ["no such path"]}, {}
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not ws.token_valid(bearer):
            return 401, {"errors": ["The access token is invalid or expired."]}, {}
        with ws.lock:
            forced = ws.answer_statuses.pop(0) if ws.answer_statuses else None
        if forced is not None:
            extra = {"Retry-After": ws.retry_after} if forced == 429 and ws.retry_after else {}
            return forced, {"errors": [f"switch: answering {forced}"]}, extra
        if path == f"{API_PREFIX}/synchronizationRuns" and method == "POST":
            ldif = json.loads(body or b"{}")
            run = ws.run_create(ldif)
            if query.get("start", ["false"])[0] == "true":
                ws.run_start(run)
            return 200, [{"id": run.id}] if ws.runs_answer_as_list else {"id": run.id}, {}
        if path == f"{API_PREFIX}/configurations":
            if method == "PUT":
                ws.configuration_put(json.loads(body or b"{}"))
                return 204, None, {}
            if method == "GET":
                return 200, list(ws.configurations.values()), {}
        if matched := RUN_PATH.match(path):
            run = ws.runs.get(matched.group(1))
            if run is None:
                return 404, {"errors": [f"No synchronization run {matched.group(1)}."]}, {}
            return self._run(method, matched.group(2), run, query)
        return 404, {"errors": ["no such path"]}, {}

    def _token(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        ws = self.workspace
        expected = "Basic " + base64.b64encode(f"apitoken:{ws.api_token}".encode()).decode()
        form = parse_qs(body.decode())
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}, {}
        if self.headers.get("Authorization") != expected:
            return 401, {"error": "invalid_client", "error_description": "Bad credentials"}, {}
        return 200, ws.token_issue(), {}

    def _run(self, method: str, action: str, run: Run, query: dict) -> tuple[int, Any, dict[str, str]]:
        ws = self.workspace
        if action == "start" and method == "POST":
            if not ws.run_start(run):
                return 400, {"errors": ["The synchronization run was already started."]}, {}
            return 200, None, {}
        if action == "stop" and method == "POST":
            if not ws.run_stop(run):
                return 400, {"errors": [f"The synchronization run is {run.status}, not pending or running."]}, {}
            return 200, None, {}
        ws.run_advance(run)
        if action == "status":
            return 200, {"id": run.id, "status": run.status, "description": run.description}, {}
        if action == "warnings":
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
            if not 1 <= limit <= 100 or offset < 0 or offset % limit:
                return 400, {"errors": ["offset MOD limit must be 0 and limit between 1 and 100."]}, {}
            return 200, run.warnings[offset : offset + limit], {}
        if action == "results":
            if run.status != "FINISHED" or run.results is None:
                return 204, None, {}
            with ws.lock:
                run.results_polls += 1
                if run.results_polls <= ws.results_not_ready:
                    return 204, None, {}
            return 200, run.results, {}
        return 404, {"errors": ["no such path"]}, {}


def shipped_configuration(direction: str) -> dict[str, Any]:
    return json.loads((SHIPPED / f"{direction}.json").read_text())


class FakeLeanIX(LocalServer):
    """`with FakeLeanIX() as leanix:`; the shipped configurations are installed unless `processors=False`.

    `validate=False` (the bench only) skips the Swagger check, whose cost on 50,000-item LDIFs is not LeanIX's."""

    def __init__(self, *, processors: bool = True, validate: bool = True) -> None:
        self.workspace = Workspace()
        self.spec = SpecCheck(enabled=validate)
        if processors:
            for direction in ("inbound", "outbound"):
                self.workspace.configuration_put(shipped_configuration(direction))
            self.workspace.configuration_puts.clear()
        super().__init__(_Handler, workspace=self.workspace, spec=self.spec)

    def config(self, **overrides: Any) -> dict[str, Any]:
        return {"host": self.url, "api_token": self.workspace.api_token, "direction": "from_leanix", **overrides}
