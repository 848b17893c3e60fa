"""Runs nobody asked for by hand: those due by an integration's schedule, and a destination's after its sources.

Both start through `sync_job_request`, the path of `POST /sync`, so a started run never overlaps one
under way (that request answers with the running job instead). Neither starts anything for a pending
OAuth grant, an inactive integration or an organisation whose subscription lapsed (`POST /sync` would
refuse it a 402).

A destination set to `run_after_sources` starts after a source's successful sync when that sync
wrote something the destination has still to publish (new, changed or tombstoned entries). A sync
that changed nothing starts nothing: the destination would find nothing due, and two two-way
connectors that are each other's source would otherwise start each other forever. A destination
already running when its source completes is not started twice; when its own run completes it
looks again and starts once more if entries of its sources changed while it ran (a run offers what
was due when it began), so nothing waits for the schedule.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from connectors.capabilities import PushDestination
from connectors.registry import connector_class
from hub.errors import ApiError
from integrations.models import ACTIVE_JOB_STATUSES, Integration, IntegrationStatus, JobStatus, SyncJob
from integrations.runs.engine import NOT_ENQUEUED, sync_job_request
from integrations.runs.push import entries_due
from integrations.sources import destination_source_ids

logger = logging.getLogger(__name__)


def _startable() -> QuerySet[Integration]:
    """Integrations a run may be started for without a person asking: usable, and switched on."""
    return (
        Integration.objects.filter(is_pending=False)
        .exclude(status=IntegrationStatus.INACTIVE)
        .select_related("organisation")
    )


def _start(integration: Integration, reason: str) -> bool:
    """Request a run as `POST /sync` does (no user); True when a new job was created.

    A broker that refuses the task (503) or any other failure is logged and reported as not started,
    so one integration never keeps the others from starting."""
    if integration.organisation.subscription_required:
        return False
    try:
        job, created = sync_job_request(organisation=integration.organisation, integration=integration, user=None)
    except ApiError as exc:
        logger.warning("%s run of integration %s not started: %s", reason, integration.pk, exc.message)
        return False
    except Exception:
        logger.exception("%s run of integration %s not started", reason, integration.pk)
        return False
    if created:
        logger.info("%s run of integration %s started as job %s", reason, integration.pk, job.pk)
    return created


def integrations_due(*, now: datetime) -> list[Integration]:
    """Scheduled integrations with no job under way whose latest job was created at least their interval
    before `now` (a manual run counts: it restarts the interval), or that never ran.

    Filtered by interval here rather than in SQL: date arithmetic by a column differs per database, and
    only scheduled integrations are read."""
    # A job the broker refused never ran: it does not restart the interval, so the next tick tries again.
    ran = SyncJob.objects.filter(integration=OuterRef("pk")).exclude(
        status=JobStatus.FAILED, error_message=NOT_ENQUEUED
    )
    latest = ran.order_by("-created_at").values("created_at")[:1]
    active = SyncJob.objects.filter(integration=OuterRef("pk"), status__in=ACTIVE_JOB_STATUSES)
    candidates = (
        _startable()
        .filter(sync_interval_minutes__isnull=False)
        .annotate(latest_job_at=Subquery(latest))
        .alias(running=Exists(active))
        .filter(running=False)
        .order_by("latest_job_at", "created_at")
    )
    return [
        integration
        for integration in candidates
        if integration.latest_job_at is None
        or integration.latest_job_at <= now - timedelta(minutes=integration.sync_interval_minutes)
    ]


def runs_due_start(now: datetime | None = None) -> int:
    """Start every scheduled run that is due (beat calls this every 30 s); returns how many started."""
    now = now or timezone.now()
    return sum(_start(integration, "Scheduled") for integration in integrations_due(now=now))


def _changed_since(destination: Integration, *, source_ids: list, since: datetime) -> bool:
    """Has any entry of these sources that `destination` has still to publish changed since `since`?"""
    return entries_due(destination, source_ids).filter(updated_at__gte=since).exists()


def destination_runs_after_source(job: SyncJob) -> int:
    """After `job` completed: start the runs of the organisation's destinations set to run after their
    sources that publish `job`'s integration, when it wrote something they have to publish; and start
    `job`'s own destination again when its sources changed while it ran. Returns how many started."""
    since = job.started_at or job.created_at
    destinations = _startable().filter(organisation_id=job.organisation_id, run_after_sources=True)
    started = 0
    for destination in destinations:
        try:
            due = _due_after(destination, job=job, since=since)
        except Exception:  # the job has completed already: one destination's trouble must not fail its task
            logger.exception("Could not tell whether destination %s is due after job %s", destination.pk, job.pk)
            continue
        if due:
            started += _start(destination, "After-source")
    return started


def _due_after(destination: Integration, *, job: SyncJob, since: datetime) -> bool:
    cls = connector_class(destination.type)
    if cls is None or not issubclass(cls, PushDestination):
        return False
    if destination.pk == job.integration_id:
        # Its own run just ended: entries of its sources written meanwhile were not offered by it.
        watched = destination_source_ids(destination)
    elif job.integration_id in destination_source_ids(destination):
        watched = [job.integration_id]
    else:
        return False
    return bool(watched) and _changed_since(destination, source_ids=watched, since=since)
