"""One Confluence page (v2 JSON, storage body) as a knowledge-base record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.base import Record
from connectors.confluence.storage import storage_to_text


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def web_url(page: dict[str, Any], base: str) -> str:
    """Absolute URL of the page in the browser: the answer's `_links.base` + the page's `webui`."""
    webui = (page.get("_links") or {}).get("webui") or ""
    if not webui or webui.startswith("http"):
        return webui
    return base.rstrip("/") + webui


def page_record(page: dict[str, Any], *, space: dict[str, Any], base: str) -> Record:
    storage = ((page.get("body") or {}).get("storage") or {}).get("value") or ""
    version = page.get("version") or {}
    return Record(
        external_id=str(page["id"]),
        title=page.get("title") or "",
        content=storage_to_text(storage),
        html=storage,
        url=web_url(page, base),
        # v2 gives account ids only; resolving names would cost a request per author.
        author=page.get("authorId") or "",
        metadata={
            "space_id": str(space["id"]),
            "space_key": space.get("key", ""),
            "space_name": space.get("name", ""),
            "version": version.get("number"),
            "status": page.get("status"),
            "parent_id": page.get("parentId"),
            "author_id": page.get("authorId"),
            "last_editor_id": version.get("authorId"),
        },
        source_created_at=parse_time(page.get("createdAt")),
        source_updated_at=parse_time(version.get("createdAt")),
    )


def version_of(page: dict[str, Any]) -> int:
    return int((page.get("version") or {}).get("number") or 0)
