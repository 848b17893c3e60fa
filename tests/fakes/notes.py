"""A fake "notes" upstream (real HTTP on 127.0.0.1) and a small pull connector for it.

Used to test the sync pipeline end to end in a real worker before the real connectors land.
The upstream pages notes by an opaque cursor, reports deletions, and has switches for faults.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from connectors.base import (
    Checkpoint,
    ConfigField,
    Connector,
    ConnectorInfo,
    Deletion,
    Found,
    PreviewItem,
    PreviewResult,
    ProbeResult,
    Record,
)
from connectors.capabilities import Preview, Probe, PullSource
from connectors.errors import CredentialInvalid
from connectors.http import UpstreamHttpClient
from tests.fakes.local_server import LocalServer

PAGE_SIZE = 2


@dataclass
class NotesUpstream:
    """In-memory notes with a version counter, so `since` returns only what changed."""

    api_key: str = "notes-key"
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    version: int = 0
    page_delay: float = 0.0
    page_size: int = PAGE_SIZE
    broken_json: bool = False
    requests: list[str] = field(default_factory=list)

    def put(self, note_id: str, title: str, body: str, **extra: Any) -> None:
        """A note; `extra` may carry `metadata` (any JSON) and `created_at` (ISO 8601 text), served as given.

        With them a test can serve hostile records (lone surrogates, NUL, NaN, unrepresentable times,
        ids over a column's limit) through real HTTP and JSON, as an upstream would.
        """
        self.version += 1
        self.notes[note_id] = {"id": note_id, "title": title, "body": body, "version": self.version, **extra}
        self.deleted.pop(note_id, None)

    def delete(self, note_id: str) -> None:
        self.version += 1
        self.notes.pop(note_id, None)
        self.deleted[note_id] = self.version

    def page(self, since: int, offset: int) -> dict[str, Any]:
        changed = sorted((n for n in self.notes.values() if n["version"] > since), key=lambda n: n["version"])
        items = changed[offset : offset + self.page_size]
        more = offset + self.page_size < len(changed)
        return {
            "items": items,
            "total": len(changed),
            "next_cursor": f"{since}:{offset + self.page_size}" if more else None,
            "deleted": [i for i, v in self.deleted.items() if v > since] if not more else [],
            "version": self.version,
        }


class _Handler(BaseHTTPRequestHandler):
    upstream: NotesUpstream

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.upstream.requests.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {self.upstream.api_key}":
            return self._send(401, {"error": "bad key"})
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/me":
            return self._send(200, {"account": "notes-user"})
        if url.path == "/api/notes":
            time.sleep(self.upstream.page_delay)
            since, _, offset = query.get("cursor", f"{query.get('since', 0)}:0").partition(":")
            return self._send(200, self.upstream.page(int(since), int(offset or 0)))
        self._send(404, {"error": "no such path"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = b"{not json" if self.upstream.broken_json and status == 200 else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class NotesServer(LocalServer):
    def __init__(self) -> None:
        self.upstream = NotesUpstream()
        super().__init__(_Handler, upstream=self.upstream)


class NotesConnector(Connector, Probe, Preview, PullSource):
    info = ConnectorInfo(
        type="notes",
        display_name="Notes (test upstream)",
        description="A test-only source that pulls notes from a fake upstream.",
        icon="notes",
        data_description="Notes",
        auth_type="api_key",
        config_schema=(
            ConfigField(key="base_url", label="Base URL", required=True, binds_secrets=True),
            ConfigField(key="api_key", label="API key", type="password", required=True),
        ),
    )

    def _client(self) -> UpstreamHttpClient:
        return UpstreamHttpClient(
            base_url=self.config["base_url"],
            headers={"Authorization": f"Bearer {self.config['api_key']}"},
            max_attempts=1,
        )

    def probe(self) -> ProbeResult:
        try:
            with self._client() as client:
                account = client.get_json("/api/me")["account"]
        except CredentialInvalid:
            return ProbeResult(healthy=False, message="Notes API key returned 401 Unauthorized.")
        return ProbeResult(healthy=True, message=f"Notes credentials verified for {account}.")

    def preview(self) -> PreviewResult:
        with self._client() as client:
            total = client.get_json("/api/notes", params={"since": 0})["total"]
        items = [PreviewItem("notes", total)]
        return PreviewResult(summary=f"Found {total} notes", items=items, estimated_entries=total)

    def pull(self, checkpoint: dict[str, Any]) -> Iterator:
        since = int(checkpoint.get("since", 0))
        params: dict[str, Any] = {"since": since}
        with self._client() as client:
            while True:
                page = client.get_json("/api/notes", params=params)
                if "cursor" not in params:
                    yield Found(page["total"])
                for note in page["items"]:
                    yield Record(
                        external_id=note["id"],
                        title=note["title"],
                        content=note["body"],
                        metadata=note.get("metadata") or {},
                        source_created_at=_created_at(note.get("created_at")),
                    )
                for note_id in page["deleted"]:
                    yield Deletion(external_id=note_id)
                if not page["next_cursor"]:
                    yield Checkpoint({"since": page["version"]})
                    return
                params = {"cursor": page["next_cursor"]}


def _created_at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
