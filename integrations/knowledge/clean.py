"""What may be stored in a knowledge entry: valid Unicode, representable values, the columns' limits.

Every producer (connector pulls such as Haiilo's and Confluence's, webhooks) writes through
`integrations.knowledge.writes`, which calls `record_cleaned` on each record first. The rule:

- **Cleaned** (the record is stored): in every text column and in every JSON key and string of
  `metadata`, NUL is removed and a lone surrogate becomes U+FFFD; text is cut to its column's
  length; NaN and ±Infinity in `metadata` become null (PostgreSQL's jsonb and SQLite's JSON check
  refuse them), other non-JSON values become their text; a `source_created_at`/`source_updated_at`
  that is not a datetime, or that UTC cannot represent (`9999-12-31T23:59:59-10:00`), is dropped,
  and a naive one is read as UTC.
- **Refused** (`RecordRefused`, a per-record failure): an `external_id` that is not a non-empty
  string, or holds NUL or a lone surrogate (it is the entry's identity; changing it could merge two
  objects), and `metadata` nested deeper than `MAX_METADATA_DEPTH` levels or that is not an object.

The `external_id` column's length is left to the database: PostgreSQL refuses an id over 512
characters, and the sync turns that refusal into a per-record failure like any other write error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from typing import Any, NamedTuple

from django.db.models import CharField, TextField

from connectors.base import Record
from hub.errors import ApiError, ErrorCode
from hub.parsers import json_depth_exceeds
from integrations.models import KnowledgeEntry

# As deep as an API body may be (hub.parsers.MAX_JSON_DEPTH): far below Python's recursion limit,
# so storing, hashing and rendering the value can never recurse too far.
MAX_METADATA_DEPTH = 64
# The entry's text columns a record fills (the identity and the hash are not a record's text).
TEXT_FIELDS = tuple(
    f.name
    for f in KnowledgeEntry._meta.concrete_fields
    if isinstance(f, CharField | TextField) and f.name not in ("external_id", "content_hash")
)
COLUMN_LIMITS = {
    name: KnowledgeEntry._meta.get_field(name).max_length
    for name in TEXT_FIELDS
    if KnowledgeEntry._meta.get_field(name).max_length
}


# One encoder, built once: json.dumps with any option builds a new one per call (20 µs per record).
_STRICT_JSON = json.JSONEncoder(allow_nan=False)
# A record's metadata as the writer uses it: the content hash covers this text (json.dumps's defaults
# with sorted keys, `writes.content_hash`) and the COPY stores it (jsonb keeps no key order).
METADATA_JSON = json.JSONEncoder(allow_nan=False, sort_keys=True)


class RecordRefused(ApiError):
    """A record that cannot be stored as it is; a 400 where a request sent it, a failure in a sync."""

    def __init__(self, external_id: str, reason: str) -> None:
        self.external_id = external_id
        self.reason = reason
        super().__init__(ErrorCode.VALIDATION_ERROR, f"The record cannot be stored: {reason}")


def text_cleaned(value: Any) -> str:
    """`value` as text that every database stores: no NUL, no lone surrogate (U+FFFD instead)."""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 with surrogatepass joins a pair written as two code points; a lone one is replaced.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", "") if "\x00" in value else value


def is_clean_text(value: str) -> bool:
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _TooDeep(Exception):
    pass


def json_cleaned(value: Any, *, max_depth: int = MAX_METADATA_DEPTH, cut: bool = False) -> Any:
    """`value` as JSON every database stores and every renderer writes (see the module's rule).

    Deeper than `max_depth`: `_TooDeep`, or with `cut` the too-deep container becomes null (the
    read path, for rows stored before this rule).
    """
    if _is_clean_json(value, max_depth):
        return value
    return _json_cleaned(value, 1, max_depth, cut)


def _is_clean_json(value: Any, max_depth: int) -> bool:
    return _clean_json_text(value, max_depth, _STRICT_JSON) is not None


def _clean_json_text(value: Any, max_depth: int, encoder: json.JSONEncoder) -> str | None:
    """The fast path: one C-speed dump proves most values clean without walking them in Python;
    the dump when it does, else None."""
    try:
        text = encoder.encode(value)
    except (TypeError, ValueError, RecursionError):
        return None
    # ensure_ascii writes every NUL as \u0000 and every surrogate as \udXXX (a valid pair too).
    if "\\u0000" in text or "\\ud" in text:
        return None
    if text.count("[") + text.count("{") > max_depth and json_depth_exceeds(value, max_depth):
        return None
    return text


def _json_cleaned(value: Any, depth: int, max_depth: int, cut: bool) -> Any:
    if isinstance(value, str):
        return text_cleaned(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if depth > max_depth:
            if cut:
                return None
            raise _TooDeep
        if isinstance(value, dict):
            return {text_cleaned(key): _json_cleaned(item, depth + 1, max_depth, cut) for key, item in value.items()}
        return [_json_cleaned(item, depth + 1, max_depth, cut) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return text_cleaned(value)


def datetime_cleaned(value: Any) -> dt.datetime | None:
    """An aware datetime UTC can represent, or None."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None
    return value


class CleanedRecord(NamedTuple):
    """A cleaned record and its metadata as METADATA_JSON text, encoded once for the hash and the COPY."""

    record: Record
    metadata_json: str


def record_cleaned(record: Record) -> Record:
    """`record` as it may be stored, or RecordRefused (see the module's rule)."""
    return record_cleaned_with_json(record).record


def record_cleaned_with_json(record: Record) -> CleanedRecord:
    """`record` as it may be stored with its metadata's text, or RecordRefused (see the module's rule)."""
    external_id = record.external_id
    if not isinstance(external_id, str) or not external_id or not is_clean_text(external_id):
        shown = text_cleaned(external_id)[:200] if external_id else "(none)"
        raise RecordRefused(shown, "its external id is empty, holds NUL or is not valid Unicode.")
    if not isinstance(record.metadata, dict):
        raise RecordRefused(external_id, "its metadata is not an object.")
    metadata, metadata_json = _metadata_cleaned(record)
    changes: dict[str, Any] = {"metadata": metadata} if metadata is not record.metadata else {}
    for name in TEXT_FIELDS:
        value = getattr(record, name)
        if value is None and name == "html":
            continue
        cleaned = text_cleaned(value)
        limit = COLUMN_LIMITS.get(name)
        if limit and len(cleaned) > limit:
            cleaned = cleaned[:limit]
        if cleaned is not value:
            changes[name] = cleaned
    for name in ("source_created_at", "source_updated_at"):
        value = getattr(record, name)
        cleaned = datetime_cleaned(value)
        if cleaned is not value:
            changes[name] = cleaned
    # Most records are clean: they are passed on as they are (a copy costs more than the checks).
    return CleanedRecord(dataclasses.replace(record, **changes) if changes else record, metadata_json)


def _metadata_cleaned(record: Record) -> tuple[dict, str]:
    """The record's metadata as it may be stored, and its METADATA_JSON text."""
    text = _clean_json_text(record.metadata, MAX_METADATA_DEPTH, METADATA_JSON)
    if text is not None:
        return record.metadata, text
    try:
        metadata = _json_cleaned(record.metadata, 1, MAX_METADATA_DEPTH, False)
    except _TooDeep:
        raise RecordRefused(
            record.external_id, f"its metadata nests deeper than {MAX_METADATA_DEPTH} levels."
        ) from None
    # Only JSON values with text keys are left (mixed keys, which sorting refuses, became text too).
    return metadata, METADATA_JSON.encode(metadata)
