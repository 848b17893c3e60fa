"""The `haiilo` source connector: config, pull by per-type event cursors, probe and preview."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.base import (
    Checkpoint,
    ConfigField,
    Connector,
    ConnectorInfo,
    Deletion,
    FieldCheck,
    PreviewItem,
    PreviewResult,
    ProbeResult,
    PullItem,
    Record,
    RecordFailure,
    Skipped,
)
from connectors.capabilities import Preview, Probe, SlicedPull, SlicePlan
from connectors.config import http_url_parts
from connectors.errors import CredentialInvalid, UpstreamError, UpstreamRejected
from connectors.haiilo import settings
from connectors.haiilo.client import CachedToken, HaiiloClient, token_from_credentials
from connectors.haiilo.files import file_url_lookup, record_file
from connectors.haiilo.mapping import SUPPORTED_TYPES, external_id_of, record_from_event
from connectors.haiilo.page import EventsPage, ReadPage
from connectors.turns import turn_lent

MAX_PAGE_SIZE = 10_000
DEFAULT_PAGE_SIZE = 1000
ENTITY_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
# Deletes are applied before the events of the same type: the events stream carries DELETE events
# in order with CREATE and UPDATE, so anything newer than a delete (a restore) then wins over it.
STREAMS = ("deletes", "events")


def _named(exc: UpstreamError, what: str) -> UpstreamError:
    """The same error, its message naming what failed and the HTTP status (or that there was none)."""
    status = f"HTTP {exc.status_code}" if exc.status_code else "no HTTP response"
    message = f"Haiilo {what} failed ({status}): {exc.message}"
    renamed = copy.copy(exc)
    renamed.message = message
    renamed.args = (message,)
    return renamed


class HaiiloConnector(Connector, Probe, Preview, SlicedPull):
    info = ConnectorInfo(
        type="haiilo",
        display_name="Haiilo",
        description="Import a Haiilo intranet through its AI Connector and keep it current.",
        icon="haiilo",
        data_description="Blog articles, pages, workspaces, apps, files, timeline posts and people",
        auth_type="api_key",
        config_schema=(
            ConfigField(
                key="base_url", label="Haiilo URL", required=True, placeholder="https://acme.haiilo.com",
                help_text="Your Haiilo tenant's address.", binds_secrets=True,
            ),
            ConfigField(
                key="client_id", label="Client ID", required=True, binds_secrets=True,
                help_text="From Administration > Integrations > Enterprise Search in Haiilo.",
            ),
            ConfigField(
                key="client_secret", label="Client secret", type="password", required=True,
                help_text="Shown once when the API client is created in Haiilo.",
            ),
            ConfigField(
                key="entity_types", label="Entity types", placeholder=",".join(SUPPORTED_TYPES),
                help_text="Comma-separated Haiilo entity types to import; empty imports all supported types.",
                default="",
            ),
            ConfigField(
                key="page_size", label="Page size", type="number", default=DEFAULT_PAGE_SIZE,
                help_text=f"Events per request, 1 to {MAX_PAGE_SIZE}.",
            ),
            ConfigField(
                key="download_files", label="Download files", type="boolean", default=False,
                help_text="Store the body of each file with its entry (once per file version), so "
                "destinations receive it as an attachment.",
            ),
        ),
    )  # fmt: skip

    slices_key = "cursors"
    # The client of the pull in progress, for the file links the engine asks for while it writes.
    _pull_client: HaiiloClient | None = None

    @classmethod
    def config_checks(cls) -> dict[str, FieldCheck]:
        return {"base_url": _clean_base_url, "entity_types": _clean_entity_types, "page_size": _clean_page_size}

    def entity_types(self) -> list[str]:
        names = [n for n in str(self.config.get("entity_types") or "").split(",") if n]
        return names or list(SUPPORTED_TYPES)

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or DEFAULT_PAGE_SIZE)

    def _client(self) -> HaiiloClient:
        return HaiiloClient(
            base_url=self.config["base_url"],
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            token=token_from_credentials(self.credentials, self.config["client_id"]),
            on_new_token=self._store_token,
            read_timeout=float(settings.READ_TIMEOUT_SECONDS.get()),
            max_attempts=int(settings.MAX_ATTEMPTS.get()),
        )

    def _store_token(self, token: CachedToken) -> None:
        # Kept sealed with the integration, so the next job reuses it until shortly before it expires.
        self.credentials_changed(
            {"client_id": self.config["client_id"], "access_token": token.access_token, "refresh_at": token.refresh_at}
        )

    def probe(self) -> ProbeResult:
        """A token request plus one event request of pageSize=1."""
        entity_type = self.entity_types()[0]
        with self._client() as client:
            try:
                client.token()
            except CredentialInvalid:
                return ProbeResult(
                    False, "Haiilo token request returned 401 Unauthorized: check the client ID and secret."
                )
            except UpstreamError as exc:
                return ProbeResult(False, _named(exc, "token request").message)
            try:
                client.events_page(entity_type, start_id=0, page_size=1)
            except UpstreamError as exc:
                return ProbeResult(False, _named(exc, f"events of '{entity_type}'").message)
        return ProbeResult(
            True, f"Haiilo credentials verified: a token was issued and '{entity_type}' events are readable."
        )

    def preview(self) -> PreviewResult:
        """Per entity type: reachable or not, and 0 when it has no events. Haiilo's API gives no totals,
        so any other count is null."""
        items: list[PreviewItem] = []
        reachable = 0
        with self._client() as client:
            client.current_token()  # a refused token is the whole preview's failure (502)
            for entity_type in self.entity_types():
                try:
                    page = client.events_page(entity_type, start_id=0, page_size=1)
                except UpstreamError as exc:
                    status = f"HTTP {exc.status_code}" if exc.status_code else "no response"
                    items.append(PreviewItem(f"{entity_type} (unreachable: {status})", None))
                    continue
                reachable += 1
                has_events = next(page.events(), None) is not None
                items.append(PreviewItem(entity_type, None if has_events else 0))
        known = [item.count for item in items]
        estimated = 0 if known and all(count == 0 for count in known) else None
        summary = (
            f"{reachable} of {len(items)} Haiilo entity types reachable; Haiilo's API does not give totals, "
            "so counts are known only for empty types."
        )
        return PreviewResult(summary=summary, items=items, estimated_entries=estimated)

    @contextlib.contextmanager
    def pull_slices(self, checkpoint: dict[str, Any]) -> Iterator[SlicePlan]:
        """One slice per entity type: its deletes then its events, each from its own stored cursor
        (`checkpoint["cursors"][type]`); a Checkpoint of the type's cursors follows each page, so the
        engine stores it once the page is written. The slices share one client (and its token)."""
        with self._client() as client:
            self._pull_client = client
            try:
                # The token first, in the run's thread: the slices then start with one, and a new one is
                # stored from there rather than from one slice's thread.
                types = tuple(self.entity_types())
                try:
                    client.current_token()
                except UpstreamError as exc:
                    raise _named(exc, f"token request (before the deletes of entity type '{types[0]}')") from exc
                yield SlicePlan(
                    slices=types,
                    pull_slice=lambda entity_type, cursor: self._pull_type(client, entity_type, cursor),
                )
            finally:
                self._pull_client = None

    def _pull_type(self, client: HaiiloClient, entity_type: str, cursor: dict[str, int]) -> Iterator[PullItem]:
        # Entity id -> event id of its deletion seen in this run: an older CREATE or UPDATE of it in
        # the events stream is stale and must not bring the entry back, even for a moment.
        deleted_at_event: dict[str, int] = {}
        for stream in STREAMS:
            for page in self._pages(client, entity_type, stream, cursor):
                if stream == "deletes":
                    yield from self._deletions(entity_type, page, deleted_at_event)
                else:
                    yield from self._events(entity_type, page, deleted_at_event)
                if page.count:
                    cursor[stream] = self._cursor_after(entity_type, stream, page, cursor.get(stream) or 0)
                    yield Checkpoint(dict(cursor))

    def _pages(self, client: HaiiloClient, entity_type: str, stream: str, cursor: dict[str, int]) -> Iterator[ReadPage]:
        """Pages of one stream from the cursor until one is shorter than the page size. Each page is
        read whole first, and the next one asked for (in a thread, with this one's context) while the
        caller maps this one and moves the cursor: a page's round trip overlaps with its predecessor's
        mapping and writing. The page is decoded here, not in that thread: this one holds the slice's
        turn to compute (connectors.turns), the other would take the GIL from the run's writer."""
        page_size = self.page_size
        start = int(cursor.get(stream) or 0)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="haiilo-next-page") as ahead:
            coming = None
            while True:
                if coming is None:
                    fetched = self._page(client, entity_type, stream, start)
                else:
                    with turn_lent():
                        fetched = coming.result()
                with _failure_named(entity_type, stream):
                    page = fetched.read()
                coming = None
                if page.count >= page_size and (following := self._next_start(page, start)) is not None:
                    start = following
                    ask = contextvars.copy_context().run
                    coming = ahead.submit(ask, self._page, client, entity_type, stream, start)
                yield page  # closed early, the `with` waits for the page in flight (the client closes next)
                if page.count < page_size or coming is None:
                    return

    def _page(self, client: HaiiloClient, entity_type: str, stream: str, start: int) -> EventsPage:
        fetch = client.deletes_page if stream == "deletes" else client.events_page
        with _failure_named(entity_type, stream):
            return fetch(entity_type, start_id=start, page_size=self.page_size)

    @staticmethod
    def _next_start(page: ReadPage, start: int) -> int | None:
        """Where the page after this one starts; None when the cursor did not move (the caller's
        _cursor_after then rejects the page, as it would without reading ahead)."""
        last = page.last_event_id if page.last_event_id is not None else page.max_event_id
        return last if last is not None and last > start else None

    @staticmethod
    def _cursor_after(entity_type: str, stream: str, page: ReadPage, start_id: int) -> int:
        last_event_id = page.last_event_id if page.last_event_id is not None else page.max_event_id
        if last_event_id is None or last_event_id <= start_id:
            raise UpstreamRejected(
                f"Haiilo {stream} of entity type '{entity_type}': the cursor did not move past {start_id}."
            )
        return last_event_id

    def _deletions(self, entity_type: str, page: ReadPage, deleted_at_event: dict[str, int]) -> Iterator[PullItem]:
        for item in page.events():
            entity_id = item.get("entityId") if isinstance(item, dict) else None
            if entity_id:
                deleted_at_event[str(entity_id)] = _event_id(item)
                yield Deletion(external_id_of(entity_type, str(entity_id)))

    def _events(self, entity_type: str, page: ReadPage, deleted_at_event: dict[str, int]) -> Iterator[PullItem]:
        base_url = self.config["base_url"]
        for event in page.events():
            if not isinstance(event, dict) or not (event.get("entityId") or event.get("id")):
                yield RecordFailure(f"{entity_type}:?", f"A '{entity_type}' event without an entity id.")
                continue
            entity_id = str(event.get("entityId") or event.get("id"))
            if str(event.get("eventType") or "").upper() == "DELETE":
                yield Deletion(external_id_of(entity_type, entity_id))
                continue
            if _event_id(event) < deleted_at_event.get(entity_id, -1):
                yield Skipped(external_id_of(entity_type, entity_id), "superseded by a later deletion")
                continue
            try:
                mapped = record_from_event(entity_type, event, base_url)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                external_id = external_id_of(entity_type, str(event.get("entityId") or event.get("id")))
                yield RecordFailure(external_id, f"Could not read this '{entity_type}' event: {type(exc).__name__}.")
                continue
            if isinstance(mapped, Record) and entity_type == "file" and self.config.get("download_files"):
                mapped = self._with_file(mapped, event)
            yield mapped
            if isinstance(mapped, Skipped):
                # The newest state is not public: an entry made of an earlier state must go.
                yield Deletion(mapped.external_id)

    def _with_file(self, record: Record, event: dict[str, Any]) -> Record:
        lookup = file_url_lookup(lambda: self._pull_client, self._client)
        found = record_file(event, lookup)
        return dataclasses.replace(record, files=(found,)) if found is not None else record


@contextlib.contextmanager
def _failure_named(entity_type: str, stream: str) -> Iterator[None]:
    """A page's fetch or its decoding: an upstream error names the stream and the entity type."""
    try:
        yield
    except UpstreamError as exc:
        raise _named(exc, f"{stream} of entity type '{entity_type}'") from exc


def _event_id(event: dict[str, Any]) -> int:
    """An event's id, or 0 when it has none worth comparing."""
    try:
        return int(event.get("eventId") or 0)
    except (TypeError, ValueError):
        return 0


def _clean_base_url(value: str) -> tuple[str, str | None]:
    url = value.strip().rstrip("/")
    parts, error = http_url_parts(url)
    if parts is None:
        return value, f"{error} Use an http(s) URL, like https://acme.haiilo.com."
    if parts.query or parts.fragment or parts.username or parts.password:
        return value, "Must be the tenant's address only, without credentials, query or fragment."
    return url, None


def _clean_entity_types(value: str) -> tuple[str, str | None]:
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    bad = [name for name in names if not ENTITY_TYPE_NAME.match(name)]
    if bad:
        return value, f"Not an entity type name: {', '.join(bad)}. Use names like {', '.join(SUPPORTED_TYPES[:3])}."
    return ",".join(dict.fromkeys(names)), None


def _clean_page_size(value: Any) -> tuple[int, str | None]:
    if isinstance(value, float):
        if not value.is_integer():
            return value, "Must be a whole number."
        value = int(value)
    if not 1 <= value <= MAX_PAGE_SIZE:
        return value, f"Must be between 1 and {MAX_PAGE_SIZE}."
    return value, None
