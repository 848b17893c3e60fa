"""The processor configurations the repository ships, and writing them to a workspace (`manage_processors`)."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from connectors.leanix.ldif import Binding

PROCESSORS_DIR = Path(__file__).resolve().parent / "processors"
SHIPPED = {"inbound": "inbound.json", "outbound": "outbound.json"}


@cache
def shipped_configuration(direction: str) -> dict[str, Any]:
    return json.loads((PROCESSORS_DIR / SHIPPED[direction]).read_text())


def default_binding(direction: str) -> Binding:
    shipped = shipped_configuration(direction)
    return Binding(shipped["connectorType"], shipped["connectorId"], shipped["connectorVersion"])


def configuration_for(direction: str, binding: Binding) -> dict[str, Any]:
    """The shipped configuration bound to this integration's connector type, id and version."""
    return {
        **shipped_configuration(direction),
        "connectorType": binding.connector_type,
        "connectorId": binding.connector_id,
        "connectorVersion": binding.connector_version,
    }


def configuration_digest(configuration: dict[str, Any]) -> str:
    """Changes when the shipped file or the binding changes: then it is written again."""
    return hashlib.sha256(json.dumps(configuration, sort_keys=True).encode()).hexdigest()[:16]
