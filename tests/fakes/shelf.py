"""A fake "shelf" destination (real HTTP on 127.0.0.1) and the test-only connectors that push to it.

The shelf keeps articles by the id it gives them. `POST /api/batches` takes a batch of items, each
with the hub's `ref` (the entry id) and, for an update or a removal, the shelf's `id`; it answers one
result per item. Switches refuse chosen items and fail whole batches, so the push engine's ledger,
retries and progress can be shown through a real worker. `ShelfTwoWay` also pulls the shelf's
articles, so a two-way run (and its echo rule) can be shown.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from connectors.base import (
    Checkpoint,
    ConfigField,
    Connector,
    ConnectorInfo,
    EntrySnapshot,
    ProbeResult,
    PushAccepted,
    PushFailed,
    PushItem,
    PushSkipped,
    Record,
    Warning,
)
from connectors.capabilities import SOURCES_FIELD, Probe, PullSource, PushDestination
from connectors.errors import CredentialInvalid
from connectors.http import UpstreamHttpClient
from tests.fakes.local_server import LocalServer


@dataclass
class ShelfUpstream:
    """Articles by shelf id; a version counter lets a pull ask for what changed since."""

    api_key: str = "shelf-key"
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    # Items whose title is here are refused (status "refused") with this reason.
    refuse_titles: dict[str, str] = field(default_factory=dict)
    # The next this many batches, and the batches of these numbers (the first received is 1), are
    # answered with `fail_status` (the whole batch fails); a 429 or 503 carries Retry-After: 1.
    fail_batches: int = 0
    fail_batch_numbers: set[int] = field(default_factory=set)
    fail_status: int = 422
    # Items answered with nothing at all (to show an unanswered entry counts as failed).
    silent_titles: set[str] = field(default_factory=set)
    batch_delay: float = 0.0
    # Called with each batch as it arrives, before it is answered (a test's hook into "meanwhile").
    on_batch: Callable[[list[dict[str, Any]]], None] | None = None
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    version: int = 0
    next_id: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put_native(self, title: str, body: str) -> str:
        """An article written on the shelf by its own users (not by the hub)."""
        with self.lock:
            return self._store(None, {"title": title, "content": body})

    def _store(self, shelf_id: str | None, item: dict[str, Any]) -> str:
        self.version += 1
        if shelf_id is None:
            self.next_id += 1
            shelf_id = f"shelf-{self.next_id}"
        self.articles[shelf_id] = {**item, "id": shelf_id, "version": self.version}
        self.removed.discard(shelf_id)
        return shelf_id

    def batch(self, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        if self.on_batch is not None:
            self.on_batch(items)
        with self.lock:
            self.batches.append(items)
            if self.fail_batches or len(self.batches) in self.fail_batch_numbers:
                self.fail_batches = max(0, self.fail_batches - 1)
                return self.fail_status, {"error": "batch refused by the switch"}
            results = [result for item in items if (result := self._one(item)) is not None]
        return 200, {"results": results}

    def _one(self, item: dict[str, Any]) -> dict[str, Any] | None:
        if item.get("title") in self.silent_titles:
            return None
        if reason := self.refuse_titles.get(item.get("title")):
            return {"ref": item["ref"], "status": "refused", "reason": reason}
        # Keyed by the hub's reference too, as Leena's reference_id is: a batch sent again after its
        # answer was lost updates what the first sending created instead of duplicating it.
        shelf_id = item.get("id") or next(
            (a["id"] for a in self.articles.values() if a.get("ref") == item["ref"]), None
        )
        if item.get("deleted"):
            if shelf_id in self.articles:
                self.articles.pop(shelf_id)
                self.removed.add(shelf_id)
            return {"ref": item["ref"], "status": "ok", "id": shelf_id, "created": False}
        created = shelf_id not in self.articles
        stored = {key: item.get(key) for key in ("ref", "title", "content", "source")}
        return {"ref": item["ref"], "status": "ok", "id": self._store(shelf_id, stored), "created": created}

    def changed_since(self, since: int) -> dict[str, Any]:
        with self.lock:
            items = sorted((a for a in self.articles.values() if a["version"] > since), key=lambda a: a["version"])
            return {"items": items, "version": self.version}

    def sent_titles(self) -> list[str]:
        return [item.get("title") for batch in self.batches for item in batch]


class _Handler(BaseHTTPRequestHandler):
    upstream: ShelfUpstream

    def log_message(self, *args) -> None:
        pass

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.upstream.api_key}":
            return True
        self._send(401, {"error": "bad key"})
        return False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if not self._authorised():
            return
        if url.path == "/api/me":
            return self._send(200, {"account": "shelf-owner"})
        if url.path == "/api/articles":
            since = int(parse_qs(url.query).get("since", ["0"])[0])
            return self._send(200, self.upstream.changed_since(since))
        self._send(404, {"error": "no such path"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        if urlparse(self.path).path != "/api/batches":
            return self._send(404, {"error": "no such path"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        time.sleep(self.upstream.batch_delay)
        self._send(*self.upstream.batch(body.get("items") or []))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        if status in (429, 503):
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class ShelfServer(LocalServer):
    def __init__(self) -> None:
        self.upstream = ShelfUpstream()
        super().__init__(_Handler, upstream=self.upstream)


SHELF_CONFIG = (
    ConfigField(key="base_url", label="Base URL", required=True, binds_secrets=True),
    ConfigField(key="api_key", label="API key", type="password", required=True),
    SOURCES_FIELD,
    ConfigField(key="batch_size", label="Batch size", type="number", default=50),
    ConfigField(key="strict", label="Fail the run when an entry fails", type="boolean", default=False),
)
# Entries whose metadata says {"shelf": "skip"} are left out by the connector (PushSkipped).
SKIP_MARK = ("shelf", "skip")


class ShelfDestination(Connector, Probe, PushDestination):
    info = ConnectorInfo(
        type="shelf",
        display_name="Shelf (test destination)",
        description="A test-only destination that publishes entries to a fake shelf.",
        icon="shelf",
        data_description="Articles",
        auth_type="api_key",
        config_schema=SHELF_CONFIG,
    )

    _http: UpstreamHttpClient | None = None

    def _client(self) -> UpstreamHttpClient:
        if self._http is None:
            self._http = UpstreamHttpClient(
                base_url=self.config["base_url"],
                headers={"Authorization": f"Bearer {self.config['api_key']}"},
                max_attempts=1,
            )
        return self._http

    def probe(self) -> ProbeResult:
        try:
            account = self._client().get_json("/api/me")["account"]
        except CredentialInvalid:
            return ProbeResult(healthy=False, message="Shelf API key returned 401 Unauthorized.")
        return ProbeResult(healthy=True, message=f"Shelf credentials verified for {account}.")

    def push_batch_size(self) -> int:
        return int(self.config.get("batch_size") or self.push_batch_size_default)

    def push_failures_fail_the_run(self) -> bool:
        return bool(self.config.get("strict"))

    def push_batch(self, entries: Sequence[EntrySnapshot]) -> Iterable[PushItem]:
        skipped = [entry for entry in entries if entry.metadata.get(SKIP_MARK[0]) == SKIP_MARK[1]]
        for entry in skipped:
            yield PushSkipped(entry_id=entry.id, reason="marked not for the shelf")
        entries = [entry for entry in entries if entry not in skipped]
        if not entries:
            return
        items = [
            {
                "ref": entry.id,
                "id": entry.remote_id,
                "title": entry.title,
                "content": entry.content,
                "source": entry.integration_id,
                "deleted": entry.deleted,
            }
            for entry in entries
        ]
        answer = self._client().post("/api/batches", json={"items": items}).json()
        for result in answer["results"]:
            if result["status"] == "ok":
                yield PushAccepted(entry_id=result["ref"], remote_id=result["id"], created=result["created"])
            else:
                yield PushFailed(entry_id=result["ref"], reason=f"The shelf refused it: {result['reason']}")

    def push_finish(self, *, accepted: int) -> Iterable[Warning]:
        if self._http is not None:
            self._http.close()
            self._http = None
        return ()


class ShelfTwoWay(ShelfDestination, PullSource):
    """Pulls the shelf's articles and pushes the hub's entries to it: a two-way connector."""

    info = ConnectorInfo(
        type="shelf-two-way",
        display_name="Shelf, both ways (test)",
        description="A test-only connector that pulls a fake shelf's articles and publishes entries to it.",
        icon="shelf",
        data_description="Articles",
        auth_type="api_key",
        config_schema=SHELF_CONFIG,
    )

    def pull(self, checkpoint: dict[str, Any]) -> Iterator:
        page = self._client().get_json("/api/articles", params={"since": int(checkpoint.get("since", 0))})
        for article in page["items"]:
            yield Record(external_id=article["id"], title=article["title"] or "", content=article["content"] or "")
        yield Checkpoint({"since": page["version"]})
