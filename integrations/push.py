"""Destinations: hand the knowledge entries changed since the last push to the connector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.base import Connector, EntrySnapshot, PushOutcome
from integrations.models import Integration, KnowledgeEntry

CHECKPOINT_KEY = "pushed_until"


def _snapshots(entries) -> Iterator[EntrySnapshot]:
    for entry in entries.iterator(chunk_size=500):
        yield EntrySnapshot(
            id=str(entry.id),
            external_id=entry.external_id,
            title=entry.title,
            content=entry.content,
            html=entry.html,
            url=entry.url,
            author=entry.author,
            language=entry.language,
            metadata=entry.metadata,
            updated_at=entry.updated_at,
            deleted=entry.deleted_at is not None,
        )


def push_changed_entries(*, integration: Integration, connector: Connector) -> tuple[PushOutcome, dict[str, Any], int]:
    """Push the organisation's entries (from other integrations) changed since the last push.

    Returns the outcome, the next checkpoint and how many entries were offered.
    """
    entries = KnowledgeEntry.objects.filter(organisation_id=integration.organisation_id).exclude(
        integration=integration
    )
    since = integration.sync_checkpoint.get(CHECKPOINT_KEY)
    if since:
        entries = entries.filter(updated_at__gt=datetime.fromisoformat(since))
    entries = entries.order_by("updated_at", "id")
    offered = entries.count()
    newest = entries.values_list("updated_at", flat=True).last()
    outcome = connector.push(_snapshots(entries))
    checkpoint = dict(integration.sync_checkpoint)
    if newest is not None:
        checkpoint[CHECKPOINT_KEY] = newest.isoformat()
    return outcome, checkpoint, offered
