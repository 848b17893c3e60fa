"""Validation of an action's input against its declared fields (dotted keys, numbers as strings)."""

from __future__ import annotations

from typing import Any

from connectors.base import ActionField, ActionInputInvalid, ActionSpec

_MISSING = object()


def _lookup(payload: dict[str, Any], dotted: str) -> Any:
    value: Any = payload
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _store(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _unknown_keys(payload: dict[str, Any], known: set[str], prefix: str = "") -> list[str]:
    unknown = []
    for key, value in payload.items():
        dotted = f"{prefix}{key}"
        if dotted in known:
            continue
        if isinstance(value, dict) and any(k.startswith(dotted + ".") for k in known):
            unknown += _unknown_keys(value, known, dotted + ".")
        else:
            unknown.append(dotted)
    return unknown


def _coerce(field: ActionField, value: Any) -> tuple[Any, str | None]:
    allowed = [str(option["value"]) for option in field.options]
    if field.type == "number":
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())  # the seed's samples send numbers as strings: "limit": "25"
        if isinstance(value, bool) or not isinstance(value, int):
            return value, "Must be a whole number."
        if field.minimum is not None and value < field.minimum:
            return value, f"Must be at least {field.minimum}."
        if field.maximum is not None and value > field.maximum:
            return value, f"Must be at most {field.maximum}."
        return value, None
    if not isinstance(value, str):
        return value, "Must be a string."
    if field.type == "select" and value not in allowed:
        return value, f"Must be one of: {', '.join(allowed)}."
    if field.type == "multiselect":
        parts = [part.strip() for part in value.split(",") if part.strip()]
        wrong = [part for part in parts if part not in allowed]
        if wrong:
            return value, f"Unknown value(s) {', '.join(wrong)}; choose from: {', '.join(allowed)}."
        return ",".join(parts), None
    return value, None


def validate_action_input(spec: ActionSpec, payload: Any) -> dict[str, Any]:
    """The input as the action will see it (defaults filled in), or ActionInputInvalid."""
    if not isinstance(payload, dict):
        raise ActionInputInvalid({"input": ["Must be a JSON object."]})
    errors = {key: ["Unknown field for this action."] for key in _unknown_keys(payload, {f.key for f in spec.fields})}
    cleaned: dict[str, Any] = {}
    for field in spec.fields:
        value = _lookup(payload, field.key)
        if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                errors[field.key] = ["This field is required."]
            elif field.default is not None:
                _store(cleaned, field.key, field.default)
            continue
        value, error = _coerce(field, value)
        if error:
            errors[field.key] = [error]
        else:
            _store(cleaned, field.key, value)
    if errors:
        raise ActionInputInvalid(errors)
    return cleaned
