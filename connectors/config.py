"""Validation of a connector config against its declared schema."""

from __future__ import annotations

from typing import Any

from connectors.base import ConfigField, ConfigInvalid


def _coerce(field: ConfigField, value: Any) -> tuple[Any, str | None]:
    """The value in the field's type, or an error message."""
    if field.type in ("text", "password"):
        if not isinstance(value, str):
            return value, "Must be a string."
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
