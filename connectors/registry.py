"""The connector registry: one line per connector, imported only when first asked for.

A new connector is one folder under `connectors/` and one line in `CONNECTORS`. What a connector
can do is asked of its class (`connectors.capabilities`), never looked up here by name.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from connectors.base import Connector

# type -> "module:Class". The order is the order of GET /connectors.
CONNECTORS: dict[str, str] = {
    "webhook": "connectors.webhook:WebhookConnector",
    "confluence": "connectors.confluence:ConfluenceConnector",
    "haiilo": "connectors.haiilo:HaiiloConnector",
    "leanix": "connectors.leanix:LeanIXConnector",
    "leena": "connectors.leena:LeenaConnector",
}

_REGISTRY: dict[str, type[Connector] | str] = dict(CONNECTORS)
_extras_loaded = False
_lock = threading.RLock()


def import_connector(path: str) -> type[Connector]:
    """`"package.module:Class"`, or the dotted `"package.module.Class"` of EXTRA_CONNECTORS."""
    module, _, name = path.partition(":")
    return import_string(f"{module}.{name}" if name else module)


def _load_extra_connectors() -> None:
    """Connectors named in settings.EXTRA_CONNECTORS (import paths), e.g. a site's own.

    Their type is known only once imported, so they are imported on the first look-up. The flag is set
    only once all are registered, under a lock, so that a request arriving meanwhile in another thread
    never sees the registry without them."""
    global _extras_loaded
    if _extras_loaded:
        return
    with _lock:
        if not _extras_loaded:
            for path in getattr(settings, "EXTRA_CONNECTORS", []):
                register(import_connector(path))
            _extras_loaded = True


def _resolved(connector_type: str) -> type[Connector] | None:
    entry = _REGISTRY.get(connector_type)
    if isinstance(entry, str):
        with _lock:
            entry = _REGISTRY.get(connector_type)
            if isinstance(entry, str):
                entry = _REGISTRY[connector_type] = import_connector(entry)
    return entry


def register(connector_class: type[Connector]) -> type[Connector]:
    _REGISTRY[connector_class.info.type] = connector_class
    return connector_class


def unregister(connector_type: str) -> None:
    _REGISTRY.pop(connector_type, None)


def connector_class(connector_type: str) -> type[Connector] | None:
    _load_extra_connectors()
    return _resolved(connector_type)


def connector_types() -> list[str]:
    """Every registered type, without importing any connector not yet imported (extras aside)."""
    _load_extra_connectors()
    return list(_REGISTRY)


def all_connectors() -> list[type[Connector]]:
    return [cls for connector_type in connector_types() if (cls := _resolved(connector_type)) is not None]
