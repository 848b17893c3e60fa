"""Validation of a connector config against its declared schema."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from connectors.base import ConfigField, ConfigInvalid

MAX_URL_LENGTH = 2000
# Whitespace or a control character anywhere in a URL is never what was meant, and httpx refuses it later.
_BAD_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f-\x9f]")


def _coerce(field: ConfigField, value: Any) -> tuple[Any, str | None]:
    """The value in the field's type, or an error message."""
    if field.type in ("text", "password"):
        if not isinstance(value, str):
            return value, "Must be a string."
        if "\x00" in value:
            # Sent on to upstreams in headers and bodies, where NUL is never meant and breaks requests.
            return value, "Must not contain NUL characters."
        return value.strip() if field.type == "text" else value, None
    if field.type == "boolean":
        return (value, None) if isinstance(value, bool) else (value, "Must be true or false.")
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, "Must be a number."
        return value, None
    if field.type == "select":
        allowed = [option["value"] for option in field.options]
        return (value, None) if value in allowed else (value, f"Must be one of: {allowed}.")
    return value, f"Unknown field type {field.type!r}."


def validate_against_schema(schema: tuple[ConfigField, ...], config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ConfigInvalid({"config": ["Must be an object."]})
    known = {field.key for field in schema}
    errors: dict[str, list[str]] = {key: ["Unknown field for this connector."] for key in config if key not in known}
    cleaned: dict[str, Any] = {}
    for field in schema:
        value = config.get(field.key)
        if value is None or value == "":
            if field.required:
                errors[field.key] = ["This field is required."]
            elif field.default is not None:
                cleaned[field.key] = field.default
            continue
        value, error = _coerce(field, value)
        if error:
            errors[field.key] = [error]
        else:
            cleaned[field.key] = value
    if errors:
        raise ConfigInvalid(errors)
    return cleaned


def http_url_parts(value: str) -> tuple[SplitResult | None, str | None]:
    """The parts of an http(s) URL that httpx can really connect to, or why not (never an exception).

    `urlsplit` raises on `http://[::1` and on a port over 65535, and accepts hosts httpx then refuses
    (`exa mple.com`, IDNA that does not encode, labels over 63 characters): all of it is judged here,
    once, for every connector whose config names an address.
    """
    if len(value) > MAX_URL_LENGTH:
        return None, f"Must be at most {MAX_URL_LENGTH} characters."
    if _BAD_URL_CHARACTER.search(value):
        return None, "Must not contain spaces or control characters."
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in 0-65535
    except ValueError as exc:
        return None, f"Not a valid URL ({exc})."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "Must be an http(s) URL with a host."
    if parts.port == 0:
        return None, "The port must be between 1 and 65535."
    try:
        host = httpx.URL(value).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        return None, f"Not a valid URL ({exc})."
    labels = host.rstrip(".").split(".")
    if ":" not in host and (len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels)):
        return None, "The host name is not valid (labels of 1 to 63 characters, 253 in all)."
    return parts, None
