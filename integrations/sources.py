"""Which integrations feed a destination: its `sources` config field, comma-separated integration ids.

Empty means every source of the organisation. A source deleted after it was named simply drops out;
naming it again (or an id of another organisation, or the destination itself) is refused when the
config is written (`sources_errors`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from connectors.capabilities import PushDestination, direction_of
from connectors.registry import connector_class
from integrations.models import Integration


def source_ids_parse(text: Any) -> list[str]:
    """The ids named in a `sources` value, in order, without blanks and repeats."""
    if not isinstance(text, str):
        return []
    seen: dict[str, None] = {}
    for part in text.split(","):
        if part := part.strip():
            seen.setdefault(part.lower(), None)
    return list(seen)


def _is_source_type(connector_type: str) -> bool:
    cls = connector_class(connector_type)
    return cls is not None and direction_of(cls) in ("source", "both")


def _organisation_sources(organisation_id: Any, *, excluding: Any = None):
    integrations = Integration.objects.filter(organisation_id=organisation_id, is_pending=False)
    return integrations.exclude(pk=excluding) if excluding is not None else integrations


def destination_source_ids(destination: Integration) -> list[uuid.UUID]:
    """The integrations whose entries `destination` publishes now: those it names that still exist, or,
    when it names none, every other integration of its organisation (only sources hold entries)."""
    named = source_ids_parse((destination.config or {}).get("sources"))
    integrations = _organisation_sources(destination.organisation_id, excluding=destination.pk)
    if named:
        integrations = integrations.filter(pk__in=[_as_uuid(value) for value in named if _as_uuid(value)])
    return list(integrations.values_list("pk", flat=True))


def sources_errors(
    *, organisation_id: Any, value: Any, destination_id: Any = None, accepted: Iterable[str] = ()
) -> str | None:
    """Why `value` cannot be a destination's `sources` (None when it can): every id must be one of the
    organisation's source integrations, other than the destination itself.

    Ids in `accepted` (the value stored before a PATCH) passed these checks already; one of them that no
    longer exists was deleted since, and is kept (it drops out at run time) instead of being refused."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        return "Must be a comma-separated list of integration ids."
    named = source_ids_parse(value)
    malformed = [value for value in named if _as_uuid(value) is None]
    if malformed:
        return f"Not an integration id: {malformed[0][:80]}."
    # Compared in one spelling: `{…}`, `urn:uuid:…` and hex without dashes name the same integration.
    ids = list(dict.fromkeys(str(_as_uuid(value)) for value in named))
    if destination_id is not None and str(destination_id) in ids:
        return "A destination cannot be its own source."
    known = {
        str(pk): connector_type
        for pk, connector_type in _organisation_sources(organisation_id).filter(pk__in=ids).values_list("pk", "type")
    }
    deleted_since = {str(_as_uuid(value)) for value in accepted if _as_uuid(value)} - known.keys()
    unknown = [value for value in ids if value not in known and value not in deleted_since]
    if unknown:
        return f"No integration {unknown[0]} in this organisation."
    not_sources = [value for value in ids if value in known and not _is_source_type(known[value])]
    if not_sources:
        return f"Integration {not_sources[0]} is not a source: it holds no entries to publish."
    return None


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def destination_sources_shown(integration: Integration) -> list[str] | None:
    """What the API shows of a destination's `sources`: the named ids that still exist ([]: every
    source); None for a connector that is not a destination."""
    cls = connector_class(integration.type)
    if cls is None or not issubclass(cls, PushDestination):
        return None
    named = [value for value in source_ids_parse((integration.config or {}).get("sources")) if _as_uuid(value)]
    if not named:
        return []
    existing = {
        str(pk)
        for pk in _organisation_sources(integration.organisation_id, excluding=integration.pk)
        .filter(pk__in=[_as_uuid(value) for value in named])
        .values_list("pk", flat=True)
    }
    return [str(_as_uuid(value)) for value in named if str(_as_uuid(value)) in existing]
