"""A fake Leena AI KM REST API over real HTTP on 127.0.0.1: tokens, attachments, articles, complete.

One server answers both hosts (auth and API). The in-memory knowledge base keeps articles by
reference_id (re-sending one updates it) and attachments by the id it gives them; `calls` records
every request in order. Switches fail chosen attachments and articles (an HTTP error or a `failed`
result, a number of times or for ever), answer chosen paths with 429 (with or without Retry-After)
or 5xx, make tokens short-lived, and expire the current token after a number of API calls (a token
that dies in the middle of a cycle). `callback()` builds a signed callback (the V2 async API's
article results) and `send_callback()` posts it over real HTTP to the hub's receive URL.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

import httpx

from connectors.leena import api
from connectors.leena.callbacks import SIGNATURE_HEADER, SIGNATURE_PREFIX, leena_signature_for
from tests.fakes.local_server import LocalServer

REFERENCE_ID = re.compile(r"^[^$]+\$[^$]+$")
FOREVER = 10**9


@dataclass
class Fault:
    """Answer `status` (or, for an article, a `failed` result when `status` is None) `times` times."""

    status: int | None = 500
    times: int = FOREVER
    retry_after: str | None = None
    message: str = "refused by the fake's switch"

    def fires(self) -> bool:
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class Call:
    path: str
    token: str | None
    detail: Any = None  # file name, the articles' reference_ids, or the token grant's username


@dataclass
class LeenaUpstream:
    client_id: str = "leena-client"
    client_secret: str = "leena-secret"
    username: str = "bot@acme.example"
    password: str = "leena-password"
    token_lifetime: float = 1800.0
    # The current token stops working after this many more API calls (None: only when it expires).
    expire_token_after_calls: int | None = None
    # Switches, keyed by file name (attachments), article name (articles) and path (any call).
    attachment_faults: dict[str, Fault] = field(default_factory=dict)
    article_faults: dict[str, Fault] = field(default_factory=dict)
    path_faults: dict[str, Fault] = field(default_factory=dict)
    # Seconds each article sync call takes (to show a timeout).
    sync_delay: float = 0.0
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # reference_ids taken since the last complete/, and those that were processed by a complete/.
    pending: list[str] = field(default_factory=list)
    completed: list[list[str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    # The token requests' bodies as received (where the password travels).
    token_bodies: list[str] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at (monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # --- what tests read ---------------------------------------------------------------------

    def paths(self) -> list[str]:
        return [call.path for call in self.calls]

    def steps(self) -> list[str]:
        """The calls as the seed's steps: token, upload, sync, complete."""
        names = {
            api.TOKEN_PATH: "token",
            api.ATTACHMENT_UPLOAD_PATH: "upload",
            api.ARTICLES_SYNC_PATH: "sync",
            api.SYNC_COMPLETE_PATH: "complete",
        }
        return [names.get(path, path) for path in self.paths()]

    def count(self, step: str) -> int:
        return self.steps().count(step)

    # --- the endpoints --------------------------------------------------------------------------

    def token(self, authorization: str, grant: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        basic = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        with self.lock:
            self.calls.append(Call(api.TOKEN_PATH, None, grant.get("username")))
            if fault := self._path_fault(api.TOKEN_PATH):
                return fault
            if authorization != basic:
                return 401, {"error": "invalid_client"}, {}
            expected = {"username": self.username, "password": self.password, "grant_type": "password"}
            if {key: grant.get(key) for key in expected} != expected:
                return 401, {"error": "invalid_grant"}, {}
            token = f"leena-token-{next(self._ids)}"
            self.tokens[token] = time.monotonic() + self.token_lifetime
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}, {}

    def authorised(
        self, path: str, authorization: str, detail: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Records the call; an answer when it is refused (bad token, a path fault), else None."""
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        self.calls.append(Call(path, token, detail))
        if token is None or self.tokens.get(token, 0) <= time.monotonic():
            return 401, {"error": "invalid_token"}, {}
        if self.expire_token_after_calls is not None:
            self.expire_token_after_calls -= 1
            if self.expire_token_after_calls <= 0:
                self.expire_token_after_calls = None
                self.tokens[token] = 0  # dies now: this call and every later one with it get 401
                return 401, {"error": "token_expired"}, {}
        return self._path_fault(path)

    def upload(self, authorization: str, name: str, content_type: str, content: bytes):
        with self.lock:
            if refused := self.authorised(api.ATTACHMENT_UPLOAD_PATH, authorization, name):
                return refused
            if (fault := self.attachment_faults.get(name)) and fault.fires():
                return fault.status or 500, {"error": fault.message}, _retry_after(fault)
            attachment_id = f"att-{next(self._ids)}"
            self.attachments[attachment_id] = {"name": name, "content_type": content_type, "content": content}
        return 200, {"attachment_id": attachment_id}, {}

    def sync(self, authorization: str, body: dict[str, Any]):
        articles = body.get("articles") if isinstance(body, dict) else None
        refs = [a.get("reference_id") for a in articles or [] if isinstance(a, dict)]
        time.sleep(self.sync_delay)
        with self.lock:
            if refused := self.authorised(api.ARTICLES_SYNC_PATH, authorization, refs):
                return refused
            if not isinstance(articles, list) or not all(isinstance(a, dict) for a in articles):
                return 400, {"error": "articles must be a list of objects"}, {}
            for article in articles:
                fault = self.article_faults.get(article.get("name"))
                if fault is not None and fault.status is not None and fault.fires():
                    return fault.status, {"error": fault.message}, _retry_after(fault)
            return 200, {"results": [self._article(article) for article in articles]}, {}

    def _article(self, article: dict[str, Any]) -> dict[str, Any]:
        reference_id = article.get("reference_id")
        fault = self.article_faults.get(article.get("name"))
        if fault is not None and fault.status is None and fault.fires():
            return {"reference_id": reference_id, "status": "failed", "message": fault.message}
        problem = _article_problem(article, self.attachments)
        if problem:
            return {"reference_id": reference_id, "status": "failed", "message": problem}
        self.articles[reference_id] = {key: article.get(key) for key in ("name", "html_content", "attachments")}
        self.pending.append(reference_id)
        return {"reference_id": reference_id, "status": "success", "message": "Article queued"}

    def complete(self, authorization: str):
        with self.lock:
            if refused := self.authorised(api.SYNC_COMPLETE_PATH, authorization, list(self.pending)):
                return refused
            self.completed.append(self.pending)
            self.pending = []
        return 200, {"status": "processing"}, {}

    def _path_fault(self, path: str):
        fault = self.path_faults.get(path)
        if fault is not None and fault.fires():
            return fault.status or 500, {"error": fault.message}, _retry_after(fault)
        return None


def _retry_after(fault: Fault) -> dict[str, str]:
    return {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}


def _article_problem(article: dict[str, Any], attachments: dict[str, Any]) -> str | None:
    if not REFERENCE_ID.match(str(article.get("reference_id") or "")):
        return "reference_id must be <ArticleId>$<Language>"
    if not isinstance(article.get("name"), str) or not article["name"]:
        return "name is required"
    if not isinstance(article.get("html_content"), str):
        return "html_content is required"
    unknown = [a for a in article.get("attachments") or [] if a not in attachments]
    return f"unknown attachments: {unknown}" if unknown else None


def multipart_file(content_type: str, body: bytes) -> tuple[str, str, bytes] | None:
    """The `file` part of a multipart/form-data body: (file name, content type, bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == api.ATTACHMENT_FIELD:
            return part.get_filename() or "", part.get_content_type(), part.get_payload(decode=True) or b""
    return None


class _Handler(BaseHTTPRequestHandler):
    upstream: LeenaUpstream
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms per answer.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization") or ""
        content_type = self.headers.get("Content-Type") or ""
        path = self.path.split("?")[0]
        upstream = self.upstream
        if path == api.TOKEN_PATH:
            upstream.token_bodies.append(body.decode(errors="replace"))
            if content_type.startswith("application/x-www-form-urlencoded"):
                grant = dict(parse_qsl(body.decode()))
            else:
                grant = _json_or_empty(body)
            return self._send(*upstream.token(authorization, grant))
        if path == api.ATTACHMENT_UPLOAD_PATH:
            file = multipart_file(content_type, body) if content_type.startswith("multipart/form-data") else None
            if file is None:
                return self._send(400, {"error": "a multipart field 'file' is required"}, {})
            return self._send(*upstream.upload(authorization, *file))
        if path == api.ARTICLES_SYNC_PATH:
            return self._send(*upstream.sync(authorization, _json_or_empty(body)))
        if path == api.SYNC_COMPLETE_PATH:
            return self._send(*upstream.complete(authorization))
        self._send(404, {"error": "no such path"}, {})

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        raw = json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout being shown)


def _json_or_empty(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


class FakeLeena(LocalServer):
    """The server; `config()` is a `leena` integration's config pointing at it."""

    def __init__(self) -> None:
        self.upstream = LeenaUpstream()
        super().__init__(_Handler, upstream=self.upstream)

    def callback(self, results: list[dict[str, Any]], **how: Any) -> tuple[bytes, dict[str, str]]:
        """A callback signed with this fake's client_secret (see `callback`)."""
        return callback(self.upstream.client_secret, results, **how)

    def config(self, **overrides: Any) -> dict[str, Any]:
        upstream = self.upstream
        config = {
            "client_id": upstream.client_id,
            "client_secret": upstream.client_secret,
            "username": upstream.username,
            "password": upstream.password,
            "api_base_url": self.url,
            "auth_url": self.url,
        }
        return {**config, **overrides}


def result(reference_id: str, status: str = "success", message: str = "") -> dict[str, Any]:
    """One article-level result, as Leena posts it."""
    return {"reference_id": reference_id, "status": status, "message": message}


def callback(
    client_secret: str, results: list[dict[str, Any]], *, prefixed: bool = True, single: bool = False
) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a callback reporting `results` (`single`: one result as the whole
    body), signed with `client_secret`, with or without the `sha256=` prefix."""
    if single:
        assert len(results) == 1
    raw = json.dumps(results[0] if single else {"articles": results}).encode()
    signature = leena_signature_for(client_secret, raw)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: (SIGNATURE_PREFIX if prefixed else "") + signature}
    return raw, headers


def send_callback(receive_url: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST a callback to the hub's receive URL, as Leena does: over real HTTP."""
    return httpx.post(receive_url, content=raw, headers=headers, timeout=30)
