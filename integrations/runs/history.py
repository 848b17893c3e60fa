"""Pruning the sync history: finished jobs older than SYNC_HISTORY_DAYS go, the latest of each
integration stay (at least SYNC_HISTORY_KEEP_MIN of them, whatever their age).

Nothing references a job by foreign key: the push ledger belongs to the destination and the entry
(webhooks.job_log finds a pushed object's run by time, and sends a line whose run was pruned to the
current one), a job's callback lines live in its own row, and the push checkpoint's job id only
serves to resume that job while it runs. Running and pending jobs are never deleted. Deletion goes
in chunks of DELETE_CHUNK rows, each its own short statement, so a big table is never locked by one
long DELETE and the web and workers keep writing meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from integrations.models import JobStatus, SyncJob

logger = logging.getLogger(__name__)

# A cancelled job ends as failed (integrations.runs.jobs.job_cancel).
FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED)
DELETE_CHUNK = 1000


def _finished() -> QuerySet[SyncJob]:
    return SyncJob.objects.filter(status__in=FINISHED_STATUSES)


def _prunable_of(integration_id, *, cutoff: datetime, keep: int) -> QuerySet[SyncJob] | None:
    """The integration's finished jobs older than `cutoff` and older than its `keep` latest finished
    ones (None when it has no more than `keep`). Jobs created at the same instant as the last kept one
    stay too: at least `keep` remain."""
    latest = _finished().filter(integration_id=integration_id).order_by("-created_at")
    last_kept = latest.values_list("created_at", flat=True)[keep - 1 : keep].first()
    if last_kept is None:
        return None
    return _finished().filter(integration_id=integration_id, created_at__lt=min(cutoff, last_kept))


def _delete_in_chunks(jobs: QuerySet[SyncJob], chunk: int) -> int:
    deleted = 0
    while ids := list(jobs.order_by("created_at").values_list("pk", flat=True)[:chunk]):
        count, _ = SyncJob.objects.filter(pk__in=ids, status__in=FINISHED_STATUSES).delete()
        deleted += count
    return deleted


def sync_history_prune(*, now: datetime | None = None, chunk: int = DELETE_CHUNK) -> int:
    """Delete the finished jobs past the history window, keeping each integration's latest; returns
    how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SYNC_HISTORY_DAYS)
    keep = settings.SYNC_HISTORY_KEEP_MIN
    integration_ids = _finished().filter(created_at__lt=cutoff).values_list("integration_id", flat=True).distinct()
    deleted = 0
    for integration_id in list(integration_ids.order_by()):
        if (jobs := _prunable_of(integration_id, cutoff=cutoff, keep=keep)) is not None:
            deleted += _delete_in_chunks(jobs, chunk)
    if deleted:
        logger.info("Sync history: %s finished jobs older than %s days deleted.", deleted, settings.SYNC_HISTORY_DAYS)
    return deleted
