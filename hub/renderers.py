"""A JSON renderer that cannot fail on what a database handed back: bad Unicode and deep values are cleaned."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer


class CleaningJSONRenderer(JSONRenderer):
    """DRF's renderer; when the data holds a lone surrogate or nests too deep, the cleaned data instead.

    Rows written before the knowledge write rule (integrations.knowledge.clean) may hold a metadata
    key such as "\\udfff" (SQLite kept it as an escape): rendering it as UTF-8 raised, and the whole
    list answered 500. The clean data is rendered only on failure, so the usual cost is nil.
    """

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except (UnicodeEncodeError, RecursionError, ValueError):
            from integrations.knowledge.clean import json_cleaned

            return super().render(json_cleaned(data, cut=True), accepted_media_type, renderer_context)
