"""The one service that changes an integration's run state, writing only the columns it changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from integrations.models import Integration, IntegrationStatus

_UNSET: Any = object()


def integration_state_set(
    *,
    integration_id: Any,
    status: IntegrationStatus | str = _UNSET,
    last_sync_at: datetime | None = _UNSET,
    sync_checkpoint: dict[str, Any] = _UNSET,
    push_checkpoint: dict[str, Any] = _UNSET,
) -> None:
    """Write the given columns (and `updated_at`) of one integration; the others are never rewritten from a
    stale copy, so a run cannot undo a concurrent edit of the config, the credentials or the name."""
    columns: dict[str, Any] = {"updated_at": timezone.now()}
    if status is not _UNSET:
        columns["status"] = status
    if last_sync_at is not _UNSET:
        columns["last_sync_at"] = last_sync_at
    if sync_checkpoint is not _UNSET:
        columns["sync_checkpoint"] = sync_checkpoint
    if push_checkpoint is not _UNSET:
        columns["push_checkpoint"] = push_checkpoint
    Integration.objects.filter(pk=integration_id).update(**columns)
