"""A fault injector to put in front of any fake: a small reverse proxy on 127.0.0.1.

`FaultProxy` forwards every request to `target` (a fake's URL, settable between tests) and answers a
fault instead for the requests a `Rule` matches (a path pattern, a method, after the first `after`
matches, `times` times). The faults are the ways an upstream breaks:

- `429` (Retry-After in seconds, or as an HTTP-date with `retry_after_date`), `500`, `502`, `503`;
- `reset`: the socket is closed with an RST and no answer; `stall`: no answer for `stall_seconds`;
- `malformed-json`, `html-200` (an error page with status 200), `expired-token` (a 401 once);
- forwarded then damaged: `truncated` (Content-Length promises more than is sent), `over-cap` (the
  real body padded with JSON whitespace to `pad_to` bytes), `trickle` (the real body one byte every
  `trickle_interval` seconds, headers first, so no single read waits long).

`requests` records what came through: (method, path, the status forwarded or "fault <name>").
"""

from __future__ import annotations

import email.utils
import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.fakes.local_server import LocalServer

FOREVER = 10**9
STATUS_FAULTS = {"429": 429, "500": 500, "502": 502, "503": 503, "expired-token": 401}
FORWARDING_FAULTS = {"truncated", "over-cap", "trickle"}
FAULTS = {*STATUS_FAULTS, *FORWARDING_FAULTS, "reset", "stall", "malformed-json", "html-200"}
# Not passed on: they describe one hop, and the proxy makes its own.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}
HTML_PAGE = b"<html><head><title>Maintenance</title></head><body><h1>We will be back soon</h1></body></html>"


@dataclass
class Rule:
    fault: str
    path: str = ""  # a regular expression searched in the request's path and query
    method: str | None = None
    after: int = 0  # let this many matching requests through first
    times: int = 1
    retry_after: float = 1.0
    retry_after_date: bool = False
    stall_seconds: float = 3.0
    trickle_interval: float = 0.2
    pad_to: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {sorted(FAULTS)}")

    def fires_for(self, method: str, path: str) -> bool:
        """Counts a matching request; True when this one gets the fault."""
        if (self.method and method != self.method) or not re.search(self.path, path):
            return False
        self.seen += 1
        return self.after < self.seen <= self.after + self.times


@dataclass
class ProxyState:
    target: str = ""
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rule_for(self, method: str, path: str) -> Rule | None:
        with self.lock:
            return next((rule for rule in self.rules if rule.fires_for(method, path)), None)

    def record(self, method: str, path: str, outcome: str) -> None:
        with self.lock:
            self.requests.append((method, path, outcome))

    def faults_answered(self) -> list[str]:
        return [outcome.removeprefix("fault ") for _, _, outcome in self.requests if outcome.startswith("fault ")]


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: ProxyState

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        rule = self.state.rule_for(self.command, self.path)
        try:
            if rule is None or rule.fault in FORWARDING_FAULTS:
                status, headers, answer = self._forward(body)
                self.state.record(self.command, self.path, f"fault {rule.fault}" if rule else str(status))
                return self._damaged(rule, status, headers, answer) if rule else self._send(status, headers, answer)
            self.state.record(self.command, self.path, f"fault {rule.fault}")
            self._fault(rule)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout or a deadline doing its work)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        target = http.client.HTTPConnection(self.state.target.removeprefix("http://"), timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            target.request(self.command, self.path, body=body or None, headers=headers)
            response = target.getresponse()
            answer = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
            return response.status, kept, answer
        finally:
            target.close()

    def _fault(self, rule: Rule) -> None:
        if rule.fault == "reset":
            return self._reset()
        if rule.fault == "stall":
            time.sleep(rule.stall_seconds)
            return self._reset()
        if rule.fault == "malformed-json":
            return self._send(200, [("Content-Type", "application/json")], b'{"data": [{"id": "1", "title": ')
        if rule.fault == "html-200":
            return self._send(200, [("Content-Type", "text/html; charset=utf-8")], HTML_PAGE)
        headers = [("Content-Type", "application/json")]
        if rule.fault == "429":
            headers.append(("Retry-After", _retry_after(rule)))
        error = b'{"error": "invalid_token"}' if rule.fault == "expired-token" else b'{"error": "injected fault"}'
        self._send(STATUS_FAULTS[rule.fault], headers, error)

    def _damaged(self, rule: Rule, status: int, headers: list[tuple[str, str]], answer: bytes) -> None:
        if rule.fault == "over-cap":
            return self._send(status, headers, answer + b" " * max(0, rule.pad_to - len(answer)))
        self._head(status, headers, len(answer) + (100 if rule.fault == "truncated" else 0))
        if rule.fault == "truncated":
            self.wfile.write(answer[: len(answer) // 2])
            return self._reset()
        for n in range(len(answer)):  # trickle: one byte at a time until all is sent or the client leaves
            self.wfile.write(answer[n : n + 1])
            self.wfile.flush()
            time.sleep(rule.trickle_interval)

    def _send(self, status: int, headers: list[tuple[str, str]], answer: bytes) -> None:
        self._head(status, headers, len(answer))
        self.wfile.write(answer)

    def _head(self, status: int, headers: list[tuple[str, str]], length: int) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()

    def _reset(self) -> None:
        """Close with an RST (SO_LINGER 0) rather than a FIN: the client sees a reset connection."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


def _retry_after(rule: Rule) -> str:
    if not rule.retry_after_date:
        return str(round(rule.retry_after))
    # An HTTP-date has whole seconds: one second more so that the wait is never shorter than asked.
    return email.utils.formatdate(time.time() + rule.retry_after + 1, usegmt=True)


class FaultProxy(LocalServer):
    """`with FaultProxy() as proxy:` serves at `proxy.url`; set `proxy.target` and `proxy.rules`."""

    def __init__(self, target: str = "") -> None:
        self.state = ProxyState(target=target)
        super().__init__(_ProxyHandler, state=self.state)
        self.server.handle_error = lambda request, address: None  # the resets it makes are expected

    def reset(self, target: str, *rules: Rule) -> None:
        """Point at `target` with these rules only, and forget what came through before."""
        with self.state.lock:
            self.state.target, self.state.rules = target, list(rules)
            self.state.requests.clear()

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        return list(self.state.requests)
