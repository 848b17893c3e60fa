"""A fake Haiilo AI Connector (real HTTP on 127.0.0.1): expiring client-credentials tokens, events and
deletes per entity type with Haiilo's cursor semantics over a generated tenant of any size, and
switches for faults (429 with Retry-After, 5xx, slow answers, dropped connections, token expiry).
File bodies: the helper endpoint `GET /web/content-connector/api/files/{groupId}/{uid}` answers a
time-limited `fileUrl` on a second fake host (`FakeBlobHost`, another port: another origin) that
checks the link's signature and expiry, records the headers each request brought, and can serve a
body of any size without holding it.

Model: one event sequence shared by every entity type (as the seed's example ids suggest). Creating,
updating or deleting an entity appends an event; a delete also appends to the type's deletes list
with the same id. `startId` is exclusive: a page holds the events after it, oldest first, at most
`pageSize`, and `lastEventId` is the id of the page's last event (or `startId` when it is empty).
Generated entities are rendered from (type, number, version) when a page is served, so a tenant of
a million events costs a few small tuples each.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TYPES = ("user", "app", "blog-article", "page", "workspace", "file", "timeline-item")
# Share of each type in a generated tenant (by events).
TYPE_WEIGHTS = {"user": 10, "app": 3, "blog-article": 35, "page": 5, "workspace": 5, "file": 12, "timeline-item": 30}
MAX_PAGE_SIZE = 10_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
WORDS = (
    "quarterly report onboarding guide travel policy holiday calendar security training benefits office "
    "kitchen parking release notes roadmap customer success marketing campaign engineering handbook "
    "design review budget planning hiring process feedback culture values wellbeing volunteering "
    "sustainability expense claims laptop setup vpn access intranet news community sports club"
).split()


@dataclass(slots=True)
class Event:
    """One event. `fields` is the entity's state (None for DELETE); generated events keep only
    `number` and `version` and are rendered when served."""

    event_id: int
    entity_type: str
    entity_id: str
    event_type: str
    fields: dict[str, Any] | None = None
    number: int = -1
    version: int = 0


@dataclass
class Fault:
    """Answers `count` matching API requests with `status` (and headers), or drops the connection."""

    count: int
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    entity_type: str | None = None
    after: int = 0  # let this many matching requests through first


@dataclass
class HaiiloTenant:
    """The fake's data and rules; tests change it directly between requests."""

    client_id: str = "tributary"
    client_secret: str = "s3cret-haiilo"
    tenant_id: str = "tenant-1"
    token_lifetime: int = 3600
    events: dict[str, list[Event]] = field(default_factory=dict)
    deletes: dict[str, list[Event]] = field(default_factory=dict)
    latest: dict[tuple[str, str], Event] = field(default_factory=dict)
    next_event_id: int = 1
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    faults: list[Fault] = field(default_factory=list)
    forbidden_types: set[str] = field(default_factory=set)
    delay: float = 0.0
    # Event requests being answered at this moment, and the most there were at once.
    in_flight: int = 0
    in_flight_max: int = 0
    revoke_tokens_after: int | None = None  # API requests until every token is revoked (once)
    token_requests: int = 0
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path?query, status)
    request_times: list[float] = field(default_factory=list)  # time.monotonic() of each, same order
    cache_pages: bool = False
    # Files: "groupId/uid" -> body (bytes) or a size to generate; the blob host serves them.
    blobs: dict[str, bytes | int] = field(default_factory=dict)
    blob_host: FakeBlobHost | None = None
    file_url_requests: int = 0
    _page_cache: dict[tuple, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- changing the tenant -------------------------------------------------------------------
    def _append(self, event: Event) -> Event:
        self.events.setdefault(event.entity_type, []).append(event)
        self.latest[(event.entity_type, event.entity_id)] = event
        self.next_event_id += 1
        self._page_cache.clear()
        return event

    def create(self, entity_type: str, entity_id: str | None = None, **fields: Any) -> str:
        entity_id = entity_id or secrets.token_hex(8)
        state = {"id": entity_id, "createdDate": _iso(self.next_event_id), **fields}
        self._append(Event(self.next_event_id, entity_type, entity_id, "CREATE", state))
        return entity_id

    def update(self, entity_type: str, entity_id: str, **fields: Any) -> None:
        state = {**self.state_of(entity_type, entity_id), **fields}
        self._append(Event(self.next_event_id, entity_type, entity_id, "UPDATE", state))

    def delete(self, entity_type: str, entity_id: str) -> None:
        event = self._append(Event(self.next_event_id, entity_type, entity_id, "DELETE"))
        self.deletes.setdefault(entity_type, []).append(event)

    def state_of(self, entity_type: str, entity_id: str) -> dict[str, Any]:
        event = self.latest[(entity_type, entity_id)]
        if event.fields is not None:
            return dict(event.fields)
        if event.event_type == "DELETE":
            raise KeyError(f"{entity_type}:{entity_id} is deleted")
        return render_generated(event)

    def generate(self, total_events: int, *, seed: int = 7, update_share: float = 0.1) -> None:
        """Append `total_events` generated events: CREATEs, and UPDATEs of earlier entities."""
        rng = random.Random(seed)
        types, weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
        created: dict[str, int] = {name: len(self.events.get(name, [])) for name in types}
        versions: dict[tuple[str, int], int] = {}
        for _ in range(total_events):
            entity_type = rng.choices(types, weights)[0]
            if created[entity_type] and rng.random() < update_share:
                number = rng.randrange(created[entity_type])
                version = versions.get((entity_type, number), 0) + 1
                kind = "UPDATE"
            else:
                number, version, kind = created[entity_type], 0, "CREATE"
                created[entity_type] += 1
            versions[(entity_type, number)] = version
            entity_id = f"{entity_type[:2]}-{number:08d}"
            self._append(Event(self.next_event_id, entity_type, entity_id, kind, None, number, version))

    def generated_ids(self, entity_type: str) -> list[str]:
        return [e.entity_id for (t, _), e in self.latest.items() if t == entity_type and e.event_type != "DELETE"]

    def live_external_ids(self) -> set[str]:
        """Every entity whose newest event is not a DELETE, as the connector names it."""
        return {f"{t}:{i}" for (t, i), e in self.latest.items() if e.event_type != "DELETE"}

    def create_file(
        self, name: str, body: bytes | int, *, content_type: str = "application/pdf", size: int | None = None, **fields
    ) -> str:
        """A public `file` entity whose current version is `body` (or a generated body of that many
        bytes); `size` is what the event says (the body's own size unless given)."""
        uid = secrets.token_hex(8)
        self.blobs[f"g-1/{uid}"] = body
        actual = body if isinstance(body, int) else len(body)
        return self.create(
            "file",
            name=name,
            description=fields.pop("description", f"The file {name}"),
            contentType=content_type,
            size=actual if size is None else size,
            currentVersionBlobReference={"groupId": "g-1", "uid": uid},
            **fields,
        )

    def new_file_version(self, entity_id: str, body: bytes) -> None:
        uid = secrets.token_hex(8)
        self.blobs[f"g-1/{uid}"] = body
        self.update("file", entity_id, size=len(body), currentVersionBlobReference={"groupId": "g-1", "uid": uid})

    # --- serving ------------------------------------------------------------------------------
    def issue_token(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
            self.token_requests += 1
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": "events:read",
        }

    def token_valid(self, token: str) -> bool:
        with self.lock:
            if self.revoke_tokens_after is not None:
                if self.revoke_tokens_after <= 0:
                    self.tokens.clear()
                    self.revoke_tokens_after = None
                else:
                    self.revoke_tokens_after -= 1
            expiry = self.tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def take_fault(self, entity_type: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.entity_type not in (None, entity_type) or fault.count <= 0:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.count -= 1
                return fault
        return None

    def page_body(self, entity_type: str, deletes: bool, start_id: int, page_size: int) -> bytes:
        key = (entity_type, deletes, start_id, page_size, self.next_event_id)
        if self.cache_pages and key in self._page_cache:
            return self._page_cache[key]
        stream = (self.deletes if deletes else self.events).get(entity_type, [])
        first = bisect.bisect_right(stream, start_id, key=lambda e: e.event_id)
        chosen = stream[first : first + page_size]
        content = [self._deleted_item(e) if deletes else self._event_body(e) for e in chosen]
        last = chosen[-1].event_id if chosen else start_id
        body = json.dumps({"amount": len(content), "lastEventId": last, "content": content}).encode()
        if self.cache_pages:
            self._page_cache[key] = body
        return body

    def _event_body(self, event: Event) -> dict[str, Any]:
        base = {
            "eventId": event.event_id,
            "entityType": event.entity_type,
            "entityId": event.entity_id,
            "eventType": event.event_type,
            "tenantId": self.tenant_id,
        }
        if event.event_type == "DELETE":
            return base
        state = event.fields if event.fields is not None else render_generated(event)
        return {**state, **base}

    def _deleted_item(self, event: Event) -> dict[str, Any]:
        return {"eventId": event.event_id, "entityId": event.entity_id, "entityType": event.entity_type}

    def prerender(self, page_size: int) -> int:
        """Render and cache every page a full sync at `page_size` asks for; returns the page count."""
        self.cache_pages = True
        pages = 0
        for entity_type in TYPES:
            for deletes in (False, True):
                start = 0
                while True:
                    page = json.loads(self.page_body(entity_type, deletes, start, page_size))
                    pages += 1
                    if len(page["content"]) < page_size:
                        break
                    start = page["lastEventId"]
        return pages


def _iso(n: int) -> str:
    return (EPOCH + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _html(rng: random.Random, paragraphs: int) -> str:
    blocks = [f"<h2>{_words(rng, 4).title()}</h2>"]
    for _ in range(paragraphs):
        blocks.append(f"<p>{_words(rng, 12)} <strong>{_words(rng, 2)}</strong> {_words(rng, 14)}.</p>")
    blocks.append(f"<ul><li>{_words(rng, 5)}</li><li>{_words(rng, 5)}</li></ul>")
    return "".join(blocks)


def render_generated(event: Event) -> dict[str, Any]:
    """The state of generated entity `number` at `version`: deterministic, about 1 KB of content."""
    rng = random.Random(f"{event.entity_type}/{event.number}/{event.version}")
    entity_id, kind = event.entity_id, event.entity_type
    common = {"id": entity_id, "createdDate": _iso(event.number), "modifiedDate": _iso(event.number + event.version)}
    if kind == "user":
        first, last = _words(rng, 1).title(), _words(rng, 1).title()
        return {
            **common,
            "displayName": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "email": f"{entity_id}@example.com",
            "status": "INACTIVE" if event.number % 50 == 49 else "ACTIVE",
            "locale": "en",
            "properties": {"jobTitle": _words(rng, 2).title(), "department": _words(rng, 1)},
            "target": {"name": "user", "params": {"id": entity_id, "slug": entity_id}},
        }
    if kind == "app":
        return {
            **common,
            "type": rng.choice(["blog", "wiki", "file-library"]),
            "name": {"en": _words(rng, 3).title(), "de": _words(rng, 3).title()},
            "textContent": {"en": f"<p>{_words(rng, 20)}</p>"},
            "visibility": "PUBLIC",
            "active": True,
            "enabled": True,
            "defaultLanguage": "en",
            "target": {"name": "app", "params": {"appId": entity_id}},
        }
    if kind == "blog-article":
        return {
            **common,
            "title": {"en": _words(rng, 6).title(), "de": _words(rng, 6).title()},
            "textContent": {"en": _html(rng, 5), "de": _html(rng, 2)},
            "defaultLanguage": "en",
            "status": "DRAFT" if event.number % 20 == 19 else "PUBLISHED",
            "visibility": "PUBLIC",
            "author": {"id": f"us-{event.number % 997:08d}", "type": "user"},
            "appId": "ap-00000001",
            "publishDate": common["createdDate"],
            "target": {"name": "blog_article_detail", "params": {"appId": "ap-00000001", "articleId": entity_id}},
        }
    if kind in ("page", "workspace"):
        return {
            **common,
            "name": {"en": _words(rng, 3).title()},
            "description": {"en": f"<p>{_words(rng, 30)}</p>"},
            "defaultLanguage": "en",
            "visibility": "PRIVATE" if event.number % 10 == 9 else "PUBLIC",
            "target": {"name": kind, "params": {"id": entity_id, "slug": entity_id}},
        }
    if kind == "file":
        return {
            **common,
            "name": f"{_words(rng, 2).replace(' ', '-')}.pdf",
            "description": _words(rng, 25),
            "contentType": "application/pdf",
            "size": rng.randrange(10_000, 5_000_000),
            "currentVersionBlobReference": {"groupId": "g-1", "uid": entity_id},
            "target": {"name": "file_detail", "params": {"fileId": entity_id}},
        }
    return {
        **common,
        "itemType": "POST",
        "status": "HIDDEN" if event.number % 25 == 24 else "VISIBLE",
        "author": {"id": f"us-{event.number % 997:08d}", "type": "user"},
        "data": {"message": f"{_words(rng, 25)}"},
        "attachments": [],
        "target": {"name": "timeline_item", "params": {"itemId": entity_id}},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server would
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    tenant: HaiiloTenant

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        if urlsplit(self.path).path != "/api/oauth/token":
            return self._send(404, {"error": "not_found"})
        if not self._client_authenticated():
            return self._send(401, {"error": "invalid_client"})
        if form.get("grant_type") != ["client_credentials"]:
            return self._send(400, {"error": "unsupported_grant_type"})
        self._send(200, self.tenant.issue_token())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if parts[:3] == ["web", "content-connector", "api"] and len(parts) == 6 and parts[3] == "files":
            return self._file_url(parts[4], parts[5])
        if (
            parts[:3] != ["web", "content-connector", "events"]
            or len(parts) not in (4, 5)
            or (len(parts) == 5 and parts[4] != "deletes")
        ):
            return self._send(404, {"error": "not_found"})
        entity_type, deletes = parts[3], len(parts) == 5
        tenant = self.tenant
        with tenant.lock:
            tenant.in_flight += 1
            tenant.in_flight_max = max(tenant.in_flight_max, tenant.in_flight)
        try:
            if tenant.delay:
                time.sleep(tenant.delay)
        finally:
            with tenant.lock:
                tenant.in_flight -= 1
        fault = tenant.take_fault(entity_type)
        if fault is not None and fault.drop:
            tenant.requests.append(("GET", self.path, 0))
            tenant.request_times.append(time.monotonic())
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault is not None:
            return self._send(fault.status, {"error": "injected"}, fault.headers)
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or not tenant.token_valid(authorization[7:]):
            return self._send(401, {"error": "invalid_token"})
        if entity_type in tenant.forbidden_types:
            return self._send(403, {"error": "forbidden"})
        query = parse_qs(url.query)
        try:
            start_id = int(query.get("startId", ["0"])[0])
            page_size = int(query.get("pageSize", ["100"])[0])
        except ValueError:
            return self._send(400, {"error": "startId and pageSize must be integers"})
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return self._send(400, {"error": "pageSize must be between 1 and 10000"})
        self._send_raw(200, tenant.page_body(entity_type, deletes, start_id, page_size))

    def _file_url(self, group_id: str, uid: str) -> None:
        tenant = self.tenant
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or not tenant.token_valid(authorization[7:]):
            return self._send(401, {"error": "invalid_token"})
        key = f"{group_id}/{uid}"
        if key not in tenant.blobs or tenant.blob_host is None:
            return self._send(404, {"error": "not_found"})
        with tenant.lock:
            tenant.file_url_requests += 1
        self._send(200, {"fileUrl": tenant.blob_host.signed_url(key)})

    def _client_authenticated(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (client_id, secret) == (self.tenant.client_id, self.tenant.client_secret)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(body).encode(), headers)

    def _send_raw(self, status: int, raw: bytes, headers: dict[str, str] | None = None) -> None:
        self.tenant.requests.append((self.command, self.path, status))
        self.tenant.request_times.append(time.monotonic())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections (a fault we inject) and clients that hang up are expected here


class FakeHaiilo:
    """`with FakeHaiilo() as haiilo:` serves `haiilo.tenant` at `haiilo.url` until the block ends."""

    def __init__(self, tenant: HaiiloTenant | None = None) -> None:
        self.tenant = tenant or HaiiloTenant()
        self.blobs = self.tenant.blob_host = FakeBlobHost(self.tenant)
        handler = type("Handler", (_Handler,), {"tenant": self.tenant})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A valid connector config for this fake."""
        return {
            "base_url": self.url,
            "client_id": self.tenant.client_id,
            "client_secret": self.tenant.client_secret,
            **overrides,
        }

    def api_requests(self) -> list[str]:
        return [path for method, path, _ in self.tenant.requests if method == "GET"]

    def __enter__(self) -> FakeHaiilo:
        self.thread.start()
        self.blobs.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.blobs.stop()
        self.server.shutdown()
        self.server.server_close()


BLOB_CHUNK = 64 * 1024


class FakeBlobHost:
    """The object store behind Haiilo's `fileUrl`: pre-signed links that expire, on its own port.

    A link is `/blobs/<groupId>/<uid>?expires=<unix time>&signature=<hmac>`; a bad signature or an
    expired link is S3's 403. `link_lifetime` sets how long links live; `expire_next_links` makes
    that many new links expired on arrival. `requests` holds (path, headers) of every request, and
    `bytes_sent` how much of each body went out (a generated body is written in chunks, so a client
    that stops reading stops it)."""

    def __init__(self, tenant: HaiiloTenant) -> None:
        self.tenant = tenant
        self.key = secrets.token_bytes(16)
        self.link_lifetime = 300.0
        self.expire_next_links = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.bytes_sent: list[int] = []
        handler = type("BlobHandler", (_BlobHandler,), {"host": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def signed_url(self, key: str) -> str:
        lifetime = self.link_lifetime
        if self.expire_next_links > 0:
            self.expire_next_links -= 1
            lifetime = -1
        expires = int(time.time() + lifetime)
        return f"{self.url}/blobs/{key}?expires={expires}&signature={self._signature(key, expires)}"

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self.key, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def link_valid(self, key: str, expires: str, signature: str) -> bool:
        try:
            when = int(expires)
        except ValueError:
            return False
        return hmac.compare_digest(self._signature(key, when), signature) and time.time() < when

    def headers_received(self) -> list[dict[str, str]]:
        return [headers for _, headers in self.requests]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _BlobHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    host: FakeBlobHost

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.host.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        key = unquote(url.path.removeprefix("/blobs/"))
        query = parse_qs(url.query)
        expires, signature = query.get("expires", [""])[0], query.get("signature", [""])[0]
        if not self.host.link_valid(key, expires, signature):
            return self._answer(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        body = self.host.tenant.blobs.get(key)
        if body is None:
            return self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
        if isinstance(body, bytes):
            self.host.bytes_sent.append(len(body))
            return self._answer(200, body, "application/octet-stream")
        self._generated(body)

    def _generated(self, size: int) -> None:
        """`size` bytes, chunked and without Content-Length: a client learns the size only by reading."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            while sent < size:
                chunk = b"x" * min(BLOB_CHUNK, size - sent)
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            self.host.bytes_sent.append(sent)

    def _answer(self, status: int, body: bytes, content_type: str = "application/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
