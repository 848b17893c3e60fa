"""Sync jobs from request to end: request one (one at a time per integration), run it under its lease."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from connectors.base import Connector
from connectors.capabilities import SlicedPull, run_directions
from connectors.errors import UpstreamError
from connectors.http import cancel_checked, while_waiting
from hub.errors import ApiError, ErrorCode
from hub.models import Organisation, User
from integrations.models import Integration, JobStatus, SyncJob
from integrations.runs.jobs import (
    Counters,
    JobLog,
    Lease,
    LeaseLost,
    OrganisationBusy,
    RunOutcome,
    job_claim,
    job_complete,
    job_fail,
    job_release_for_retry,
)
from integrations.runs.pull import pull_run
from integrations.runs.push import PushRunFailed, push_position_saved, push_run
from integrations.runs.spread import Part, SlicesHandedOver
from integrations.selectors import active_job
from integrations.services import connector_for

logger = logging.getLogger(__name__)

# What publishing a task raises when the broker cannot be reached.
ENQUEUE_ERRORS = (KombuError, OSError)
NOT_ENQUEUED = "The task queue could not be reached; the sync was not started."
# What a lost database connection raises (a restart, a failover, a network cut). A run it interrupts
# waits for the database and resumes from its checkpoint, at most this many times in one task.
DATABASE_LOST_ERRORS = (OperationalError, InterfaceError)
DATABASE_INTERRUPTIONS_MAX = 3
DATABASE_RESUMED = "The database connection was lost mid-run; resumed from the last checkpoint."
DATABASE_GAVE_UP = (
    f"The database connection was lost {DATABASE_INTERRUPTIONS_MAX + 1} times during the run; it stopped. "
    "The next run resumes from the last checkpoint."
)
# A job waiting for its organisation's runs slots asks again after this long (growing with the wait).
DEFER_MIN_SECONDS = 2.0
DEFER_MAX_SECONDS = 60.0


def sync_job_request(
    *, organisation: Organisation, integration: Integration, user: User | None
) -> tuple[SyncJob, bool]:
    """Create a pending job and enqueue it, or return the job already under way (and False).

    When the broker refuses the task the job is failed at once (nothing would ever run it) and a
    503 SERVICE_UNAVAILABLE ApiError is raised."""
    from integrations.tasks import run_sync_job

    not_enqueued: list[Exception] = []

    def enqueue(job: SyncJob) -> None:
        try:
            run_sync_job.apply_async((str(job.id), str(organisation.id)), retry=False)
        except ENQUEUE_ERRORS as exc:
            logger.error("Sync job %s could not be enqueued: %s", job.id, type(exc).__name__)
            SyncJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
                status=JobStatus.FAILED,
                completed_at=timezone.now(),
                error_message=NOT_ENQUEUED,
                updated_at=timezone.now(),
            )
            not_enqueued.append(exc)

    try:
        with transaction.atomic():
            # Serialises concurrent requests; the partial unique index is the last line of defence.
            Integration.objects.select_for_update().filter(pk=integration.pk).first()
            if running := active_job(integration=integration):
                return running, False
            job = SyncJob.objects.create(organisation=organisation, integration=integration, triggered_by=user)
            # After the commit, so the worker finds the row.
            transaction.on_commit(lambda: enqueue(job))
    except IntegrityError:
        running = active_job(integration=integration)
        if running is None:
            raise
        return running, False
    if not_enqueued:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, NOT_ENQUEUED)
    return job, True


def sync_job_run(
    *, job_id: str, org_id: str, final_attempt: bool = True, waiting_since: float | None = None, fair: bool = True
) -> RunOutcome:
    """Run a pending job to `completed` or `failed`; a retryable upstream error may put it back.

    A job whose lease another worker holds is skipped; a worker that loses the lease mid-run stops
    without writing anything more (outcome `lease_lost`). A run whose database connection is lost
    waits for the database and resumes from its checkpoint under the same lease. A job whose
    organisation already runs RUNS_PER_ORGANISATION_MAX jobs stays pending and is `deferred` (see
    `_deferred`), unless not `fair`."""
    waiting_since = waiting_since or time.time()
    try:
        claimed = job_claim(job_id=job_id, org_id=org_id, fair=fair and not _waited_too_long(waiting_since))
    except OrganisationBusy:
        return _deferred(waiting_since)
    if claimed is None:
        return RunOutcome(status="skipped")
    lease, took_over = claimed
    job, integration = lease.job, lease.job.integration
    # A job put back for a retry or resumed resumes from its checkpoint: its counts and log go on.
    log = JobLog(list(job.log or []))
    counters = Counters.resumed_from(job.progress or {}, job.checkpoint_progress or {})
    if took_over:
        log.add("warning", "Its worker was lost; resuming from the last checkpoint.")
    for interruption in range(DATABASE_INTERRUPTIONS_MAX + 1):
        try:
            with while_waiting(lease.heartbeat), cancel_checked(lease.is_lost):
                outcome = _run(lease, integration, log, counters, final_attempt=final_attempt)
            break
        except LeaseLost:
            logger.warning("Sync job %s: the lease was taken by another worker; this one stops.", job.id)
            return RunOutcome(status="lease_lost")
        except DATABASE_LOST_ERRORS as exc:
            logger.warning("Sync job %s: the database connection was lost (%s).", job.id, type(exc).__name__)
            resumed = _after_database_loss(lease, last_chance=interruption == DATABASE_INTERRUPTIONS_MAX)
            if isinstance(resumed, RunOutcome):
                return resumed
            integration, log, counters = resumed
    return _after_completion(job, outcome)


def _after_completion(job: SyncJob, outcome: RunOutcome) -> RunOutcome:
    """A completed source run starts the destinations fed from it."""
    if outcome.status == JobStatus.COMPLETED:
        from integrations.runs.schedule import destination_runs_after_source  # it imports this module

        destination_runs_after_source(job)
    return outcome


def _database_back() -> bool:
    """Drop the dead connection and wait (up to the heartbeat timeout) for a new one to answer."""
    deadline = time.monotonic() + settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            connection.close()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except DATABASE_LOST_ERRORS:
            time.sleep(1.0)
    return False


def _after_database_loss(lease: Lease, *, last_chance: bool) -> tuple[Integration, JobLog, Counters] | RunOutcome:
    """Once the database answers again: the job as it kept it (what the lost transaction wrote was
    rolled back), to resume from its checkpoint under the same lease; after the last interruption
    allowed, the job failed. An outcome instead when the database stays away (the job is left
    running: the reaper resumes it once its heartbeat is stale) or the lease was taken meanwhile."""
    if not _database_back():
        return RunOutcome(status="database_lost")
    try:
        lease.write()
        job = SyncJob.objects.select_related("integration").get(pk=lease.job.pk)
        lease.job = job
        log = JobLog(list(job.log or []))
        counters = Counters.resumed_from(job.progress or {}, job.checkpoint_progress or {})
        if last_chance:
            return job_fail(lease, log, counters, DATABASE_GAVE_UP)
    except LeaseLost:
        return RunOutcome(status="lease_lost")
    except DATABASE_LOST_ERRORS:
        return RunOutcome(status="database_lost")
    log.add("warning", DATABASE_RESUMED)
    return job.integration, log, counters


def _waited_too_long(waiting_since: float) -> bool:
    """The bound of the wait: no attempt holds a runs slot longer than CELERY_TASK_TIME_LIMIT, so jobs
    still counted as running after that are stuck; the job then starts even past the organisation's cap."""
    return time.time() - waiting_since > settings.CELERY_TASK_TIME_LIMIT


def _deferred(waiting_since: float) -> RunOutcome:
    """Ask again soon, then less often the longer it waits: a tenant with hundreds of queued jobs costs
    one cheap claim per job every DEFER_MAX_SECONDS at most."""
    waited = time.time() - waiting_since
    defer_in = min(max(waited / 2, DEFER_MIN_SECONDS), DEFER_MAX_SECONDS)
    return RunOutcome(status="deferred", defer_in=defer_in, waiting_since=waiting_since)


def _run(lease: Lease, integration: Integration, log: JobLog, counters: Counters, *, final_attempt: bool) -> RunOutcome:
    run = _DirectionsRun(lease, integration, log, counters)
    work = lambda: run.run_all(connector_for(integration))  # noqa: E731
    return _run_ended(lease, log, lambda: run.counters, work, final_attempt=final_attempt)


def _run_ended(
    lease: Lease, log: JobLog, counters: Callable[[], Counters], work: Callable[[], None], *, final_attempt: bool
) -> RunOutcome:
    """Do a run's `work` and end the job by what became of it: completed, failed, or put back for a
    retry; `handed_over` when the slices of a spread pull go on in other workers."""
    try:
        work()
    except SlicesHandedOver:
        return RunOutcome(status="handed_over")
    except UpstreamError as exc:
        if exc.retryable and not final_attempt:
            # Capped: on Redis a countdown past the visibility timeout would be delivered twice.
            retry_in = min(getattr(exc, "retry_after", None) or 30.0, settings.SYNC_RETRY_COUNTDOWN_MAX_SECONDS)
            return job_release_for_retry(lease, log, counters(), exc.message, retry_in)
        return job_fail(lease, log, counters(), exc.message)
    except PushRunFailed as exc:
        return job_fail(lease, log, counters(), str(exc))
    except SoftTimeLimitExceeded:
        return job_fail(lease, log, counters(), "The sync ran past its time limit and was stopped.")
    except DATABASE_LOST_ERRORS:
        raise  # not the run's fault: sync_job_run waits for the database and resumes
    except Exception as exc:  # a connector bug must not leave the job running
        logger.exception("Sync job %s crashed", lease.job.id)
        return job_fail(lease, log, counters(), f"Unexpected error: {type(exc).__name__}.")
    return job_complete(lease, log, counters())


def sync_job_slices_run(
    *, job_id: str, org_id: str, token: int, attempts_max: int, number: int | None = None
) -> RunOutcome:
    """One more part of a run whose slices are spread over workers (integrations.runs.spread): it
    claims slices under the job's fencing token `token` until none is left; the part that ends the
    last one completes the job. A job no longer running under that token is left alone (`skipped`)."""
    job = (
        SyncJob.objects.select_related("integration")
        .filter(pk=job_id, organisation_id=org_id, fencing_token=token, status=JobStatus.RUNNING)
        .filter(spread__isnull=False)
        .first()
    )
    if job is None:
        return RunOutcome(status="skipped")
    lease, log, counters = Lease(job=job, token=token), JobLog(), Counters()
    integration = job.integration
    connector = connector_for(integration)
    if not isinstance(connector, SlicedPull):
        return RunOutcome(status="skipped")

    def work() -> None:
        with connector.pull_slices(dict(integration.sync_checkpoint)) as plan:
            part = Part(lease, integration, connector, number=number)
            part.take_part(plan, log, counters)

    try:
        with while_waiting(lease.heartbeat), cancel_checked(lease.is_lost):
            outcome = _run_ended(lease, log, lambda: counters, work, final_attempt=job.attempts > attempts_max)
    except LeaseLost:
        return RunOutcome(status="lease_lost")
    except DATABASE_LOST_ERRORS as exc:
        # Its slices' heartbeats stop: another part, or the reaper, takes them over.
        logger.warning("Sync job %s: a part lost the database connection (%s).", job.pk, type(exc).__name__)
        return RunOutcome(status="database_lost")
    return _after_completion(job, outcome)


class _DirectionsRun:
    """The directions of one run in the connector's order, each with its own counters and checkpoint.

    A resumed job whose push had begun skips the directions before it: they finished, and their
    figures were saved with the push position."""

    def __init__(self, lease: Lease, integration: Integration, log: JobLog, counters: Counters) -> None:
        self.lease, self.integration, self.log, self.counters = lease, integration, log, counters

    def run_all(self, connector: Connector) -> None:
        directions = run_directions(connector)
        if not directions:
            self.log.add("info", "This connector receives data as it is posted; there is nothing to pull.")
            return
        saved_push = push_position_saved(self.lease, self.integration) if "push" in directions else None
        if saved_push is not None:
            directions = directions[directions.index("push") :]
            earlier = {name: Counters.from_figures(figures, name) for name, figures in saved_push["earlier"].items()}
            self.counters = Counters(direction="push", earlier=earlier)
        for number, direction in enumerate(directions):
            if number:
                self.counters = self.counters.next_direction(direction)
            elif direction == "push" and saved_push is None:
                self.counters = Counters(direction="push")
            if direction == "pull":
                pull_run(self.lease, self.integration, connector, self.log, self.counters)
            else:
                push_run(self.lease, self.integration, connector, self.log, self.counters)
