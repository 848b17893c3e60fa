"""A JSON parser that refuses bodies over the size limit without reading them whole, too deep, or not Unicode."""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from hub.errors import ApiError, ErrorCode

# No API body needs more: Knora's configs and action inputs are a few levels deep. A bound far below
# Python's recursion limit keeps serializers, json.dumps (sealing a config) and renderers safe later.
MAX_JSON_DEPTH = 64
# A lone surrogate can only enter through a \uD800-\uDFFF escape: the bytes are decoded strictly.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def read_bounded(stream, declared_length: str | None, limit: int) -> bytes:
    """Read at most `limit` bytes; 413 when the declared or actual length is larger."""
    try:
        if declared_length and int(declared_length) > limit:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body exceeds {limit} bytes.")
    except ValueError:
        raise ApiError(ErrorCode.VALIDATION_ERROR, "Content-Length is not a number.") from None
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body exceeds {limit} bytes.")
    if declared_length and len(raw) < int(declared_length):
        # The sender stopped before the length it announced: what came is not the body it meant.
        raise ApiError(ErrorCode.VALIDATION_ERROR, "The request body is shorter than its Content-Length.")
    return raw


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: safe on any depth)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def holds_lone_surrogate(value: Any) -> bool:
    """True when a string (key or value) anywhere in `value` cannot be encoded as UTF-8."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False


def loads_api_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The body as JSON, or ParseError: malformed, not UTF-8, NaN/Infinity, too deep or a lone surrogate."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(f"JSON nests deeper than {max_depth} levels.") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from exc
    # Counting brackets is C-fast; only a body with enough of them can be too deep.
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth_exceeds(data, max_depth):
        raise ParseError(f"JSON nests deeper than {max_depth} levels.")
    if _SURROGATE_ESCAPE.search(raw) and holds_lone_surrogate(data):
        raise ParseError("JSON strings must be valid Unicode (a lone surrogate escape was found).")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        raw = read_bounded(stream, declared, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return loads_api_json(raw)
