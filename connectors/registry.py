"""The connector registry: one line per connector; capabilities are looked up, not special-cased."""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from connectors.base import CAPABILITIES, Connector
from connectors.confluence.connector import ConfluenceConnector
from connectors.haiilo.connector import HaiiloConnector
from connectors.webhook.connector import WebhookConnector

_REGISTRY: dict[str, type[Connector]] = {}
_extras_loaded = False
_extras_lock = threading.Lock()


def _load_extra_connectors() -> None:
    """Connectors named in settings.EXTRA_CONNECTORS (dotted paths), e.g. a site's own.

    The flag is set only once all are registered, under a lock, so that a request arriving
    meanwhile in another thread never sees the registry without them."""
    global _extras_loaded
    if _extras_loaded:
        return
    with _extras_lock:
        if not _extras_loaded:
            for dotted_path in getattr(settings, "EXTRA_CONNECTORS", []):
                register(import_string(dotted_path))
            _extras_loaded = True


def register(connector_class: type[Connector]) -> type[Connector]:
    _REGISTRY[connector_class.info.type] = connector_class
    return connector_class


def unregister(connector_type: str) -> None:
    _REGISTRY.pop(connector_type, None)


def connector_class(connector_type: str) -> type[Connector] | None:
    _load_extra_connectors()
    return _REGISTRY.get(connector_type)


def all_connectors() -> list[type[Connector]]:
    _load_extra_connectors()
    return list(_REGISTRY.values())


def supports(connector: type[Connector] | Connector, capability: str) -> bool:
    cls = connector if isinstance(connector, type) else type(connector)
    return issubclass(cls, CAPABILITIES[capability])


register(WebhookConnector)
register(ConfluenceConnector)
register(HaiiloConnector)
