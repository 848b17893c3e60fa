"""LDIF both ways: knowledge entries as inbound content items, outbound results items as records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectors.base import EntrySnapshot, Record

DESCRIPTION_CHARS = 10_000
LX_VERSION = "1.0.0"
TEXT_VALUE_CHARS = 2_000
# Fields of a results item shown apart (the title, the link) or too internal to be worth reading.
NOT_IN_TEXT = frozenset({"name", "id", "type", "externalId", "lxWorkspace"})


@dataclass(frozen=True)
class Binding:
    """The (connectorType, connectorId, connectorVersion) that selects a processor in the workspace."""

    connector_type: str
    connector_id: str
    connector_version: str

    def header(self, *, direction: str, lx_version: str, description: str) -> dict[str, Any]:
        return {
            "connectorType": self.connector_type,
            "connectorId": self.connector_id,
            "connectorVersion": self.connector_version,
            "lxVersion": lx_version,
            "processingDirection": direction,
            "processingMode": "partial",
            "description": description,
        }


def content_item(entry: EntrySnapshot, *, content_type: str) -> dict[str, Any]:
    """An entry as one inbound content item; a tombstone says only that it is deleted."""
    if entry.deleted:
        return {"type": content_type, "id": entry.id, "data": {"deleted": True}}
    data = {
        "name": entry_name(entry),
        "description": entry.content[:DESCRIPTION_CHARS],
        "url": entry.url,
        "source": entry.source_name,
        "sourceType": entry.source_type,
        "updatedAt": entry.updated_at.isoformat(),
        "language": entry.language,
    }
    return {"type": content_type, "id": entry.id, "data": data}


def entry_name(entry: EntrySnapshot) -> str:
    """A fact sheet needs a name: the title, else the text's first line, else the upstream id."""
    first_line = next((line.strip() for line in entry.content.splitlines() if line.strip()), "")
    return (entry.title.strip() or first_line or entry.external_id)[:250]


def ldif_bytes(header: dict[str, Any], items: Iterable[dict[str, Any]]) -> bytes:
    """The LDIF as UTF-8 JSON, written item by item."""
    parts = [json.dumps(header, ensure_ascii=False)[:-1], ', "content": [']
    parts.append(", ".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in items))
    parts.append("]}")
    return "".join(parts).encode()


def record_from_item(item: dict[str, Any], *, site: str, workspace: str | None) -> Record | None:
    """One results item as a record (`<type>:<id>`); None when it is not a content item."""
    item_type, item_id, data = item.get("type"), item.get("id"), item.get("data")
    if not isinstance(item_type, str) or not isinstance(item_id, str) or not item_type or not item_id:
        return None
    data = data if isinstance(data, dict) else {}
    name = data.get("name")
    url = f"{site}/{workspace}/factsheet/{item_type}/{item_id}" if workspace else ""
    return Record(
        external_id=f"{item_type}:{item_id}",
        title=str(name).strip() if isinstance(name, str | int | float) else "",
        content=readable_text(data),
        url=url,
        metadata={"leanix_type": item_type, "leanix_id": item_id, "data": data},
    )


def readable_text(data: dict[str, Any]) -> str:
    """`Label: value` lines of the data fields other than the name; nested values flattened, empty ones out."""
    lines: list[str] = []
    for key, value in data.items():
        if key not in NOT_IN_TEXT:
            _flatten(_label(key), value, lines)
    return "\n".join(lines)


def _flatten(label: str, value: Any, lines: list[str]) -> None:
    if value is None or value == "" or value == [] or value == {}:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{label} {_label(key).lower()}", inner, lines)
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            shown = ", ".join(str(v) for v in value if v not in (None, ""))
            if shown:
                lines.append(f"{label}: {shown[:TEXT_VALUE_CHARS]}")
        else:
            for inner in value:
                _flatten(label, inner, lines)
    else:
        lines.append(f"{label}: {str(value)[:TEXT_VALUE_CHARS]}")


def _label(key: str) -> str:
    """`lifecycleActive` and `lifecycle_active` → `Lifecycle active`."""
    spaced = "".join(f" {c.lower()}" if c.isupper() else c for c in str(key)).replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:]


def item_digest(item: dict[str, Any]) -> str:
    """A short digest of an item's data, to tell an unchanged item without comparing it whole."""
    raw = json.dumps(item.get("data"), sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()
