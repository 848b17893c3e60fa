"""Helpers for the Confluence connector tests: build a connector, run a pull, sort what it yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import Checkpoint, Deletion, Found, Record, RecordFailure, Warning
from connectors.confluence.connector import ConfluenceConnector


@dataclass
class Pulled:
    records: list[Record] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    found: list[int] = field(default_factory=list)
    checkpoint: dict[str, Any] = field(default_factory=dict)


def pull_all(connector: ConfluenceConnector, checkpoint: dict[str, Any] | None = None) -> Pulled:
    pulled = Pulled()
    for item in connector.pull(checkpoint or {}):
        if isinstance(item, Record):
            pulled.records.append(item)
        elif isinstance(item, Deletion):
            pulled.deletions.append(item.external_id)
        elif isinstance(item, RecordFailure):
            pulled.failures.append(item)
        elif isinstance(item, Warning):
            pulled.warnings.append(item.message)
        elif isinstance(item, Found):
            pulled.found.append(item.total)
        elif isinstance(item, Checkpoint):
            pulled.checkpoint = item.state
    return pulled


def basic_connector(config: dict[str, Any], sleeps: list[float] | None = None, **extra: Any) -> ConfluenceConnector:
    connector = ConfluenceConnector(config=ConfluenceConnector.validate_config({**config, **extra}))
    connector.sleep = sleeps.append if sleeps is not None else (lambda seconds: None)
    return connector
