"""Files of Haiilo `file` entities: the helper endpoint's pre-signed `fileUrl`, downloaded without Haiilo's token.

The `fileUrl` points at another host (a CDN or object store) and carries its own signature, so it is
fetched by a fresh client with no headers and no auth at all: Haiilo's bearer token never goes to a
host it was not issued for. That client is the shared HTTP layer's (SSRF guard at connect time,
redirects checked hop by hop, retries of 5xx and timeouts), and the body is streamed: the caller
stops reading at its cap. The link is asked for when the file is downloaded, not when the event is
read, because it is only valid for a while.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings as django_settings

from connectors.base import RecordFile
from connectors.errors import InsufficientPermission, NotFoundUpstream
from connectors.haiilo import settings
from connectors.haiilo.client import UPSTREAM, HaiiloClient
from connectors.http import UpstreamHttpClient, connector_bounds

CHUNK_BYTES = 64 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def blob_reference(event: dict[str, Any]) -> tuple[str, str] | None:
    """(groupId, uid) of the file's current version, or None when the event has none."""
    reference = event.get("currentVersionBlobReference")
    if not isinstance(reference, dict):
        return None
    group_id, uid = reference.get("groupId"), reference.get("uid")
    if not group_id or not uid:
        return None
    return str(group_id), str(uid)


def record_file(event: dict[str, Any], file_url: Callable[[str, str], str]) -> RecordFile | None:
    """The RecordFile of a `file` event; its version is the blob reference, which names one version."""
    reference = blob_reference(event)
    if reference is None:
        return None
    size = event.get("size")
    return RecordFile(
        name=str(event.get("name") or event.get("title") or reference[1]),
        content_type=str(event.get("contentType") or DEFAULT_CONTENT_TYPE),
        version=f"{reference[0]}/{reference[1]}",
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        fetch=lambda: _chunks_with_fresh_link(reference, file_url),
    )


def _chunks_with_fresh_link(reference: tuple[str, str], file_url: Callable[[str, str], str]) -> Iterator[bytes]:
    """The file's bytes; a link refused before any byte came (403, 404: it expired on the way) is
    asked for again once, as the seed says links are to be refreshed as needed."""
    for attempt in (1, 2):
        started = False
        try:
            for chunk in signed_url_chunks(file_url(*reference)):
                started = True
                yield chunk
            return
        except (InsufficientPermission, NotFoundUpstream):
            if started or attempt == 2:
                raise


def signed_url_chunks(url: str) -> Iterator[bytes]:
    """The body of a pre-signed URL in chunks, fetched with no credentials of ours.

    A file has its own cap, ATTACHMENT_MAX_BYTES (the one the hub stores files under), not the API's."""
    with (
        UpstreamHttpClient(
            base_url=url,
            upstream=UPSTREAM,
            read_timeout=float(settings.READ_TIMEOUT_SECONDS.get()),
            max_attempts=int(settings.MAX_ATTEMPTS.get()),
            **connector_bounds(settings.REQUEST_DEADLINE_SECONDS, settings.MAX_BODY_BYTES),
        ) as http,
        http.stream("GET", url, max_body_bytes=int(django_settings.ATTACHMENT_MAX_BYTES)) as response,
    ):
        yield from response.iter_bytes(CHUNK_BYTES)


def file_url_lookup(connector_client: Callable[[], HaiiloClient | None], new_client: Callable[[], HaiiloClient]):
    """`(groupId, uid) -> fileUrl` through the pull's open client, or a new one once the pull has ended
    (the engine writes, and downloads, the last records after the connector's generator is done)."""

    def lookup(group_id: str, uid: str) -> str:
        client = connector_client()
        if client is not None:
            return client.file_url(group_id, uid)
        with new_client() as fresh:
            return fresh.file_url(group_id, uid)

    return lookup
