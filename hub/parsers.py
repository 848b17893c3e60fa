"""A JSON parser that refuses bodies over the size limit without reading them whole."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from hub.errors import ApiError, ErrorCode


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
    return raw


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        raw = read_bounded(stream, declared, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
