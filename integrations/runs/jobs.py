"""Sync jobs and their leases: claim, heartbeat, progress, complete, fail, retry and reap.

A worker owns a job through a lease. Claiming a job (or taking over one whose owner stopped
heartbeating) increments its fencing token; every write the worker makes afterwards is a conditional
UPDATE ... WHERE fencing_token = <its token>, and a write that matches no row raises LeaseLost: the
worker writes nothing more and stops. The reaper takes the lease of a job whose heartbeat is older
than SYNC_HEARTBEAT_TIMEOUT_SECONDS (incrementing the token) and puts it back to pending, so the next
worker resumes it from its last checkpoint, or fails it once it was resumed SYNC_MAX_RESUMES times.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from hub.models import Organisation
from integrations.models import ACTIVE_JOB_STATUSES as ACTIVE_STATUSES
from integrations.models import IntegrationStatus, JobStatus, SyncJob
from integrations.runs.state import integration_state_set

logger = logging.getLogger(__name__)

LOG_MAX_LINES = 200
LOG_LINE_MAX_CHARS = 500
# A running job proves it is alive at least this often (seconds), also while it waits on an upstream.
HEARTBEAT_INTERVAL = 10.0
# How stale `Lease.is_lost` may be: a cancelled spread part stops pulling within this (one EXISTS query
# at most this often, per part); it wrote nothing more anyway, its batches being fenced.
LOST_CHECK_INTERVAL = 0.25


class LeaseLost(BaseException):  # noqa: N818 (not an error of the run: the end of this worker's part in it)
    """The job's lease was taken (by the reaper or another worker): write nothing more, stop.

    A BaseException, so that no `except Exception` in a connector or the engine swallows it."""


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS)


@dataclass
class JobLog:
    """Per-record failures and upstream warnings, bounded so a bad run cannot bloat the row."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    def add(self, level: str, message: str, external_id: str | None = None) -> None:
        if len(self.lines) >= LOG_MAX_LINES:
            self.dropped += 1
            return
        line = {"level": level, "message": message[:LOG_LINE_MAX_CHARS], "at": timezone.now().isoformat()}
        if external_id is not None:
            line["external_id"] = external_id
        self.lines.append(line)

    def as_json(self) -> list[dict[str, Any]]:
        if not self.dropped:
            return self.lines
        return [*self.lines, {"level": "info", "message": f"{self.dropped} more lines not kept."}]


@dataclass
class Counters:
    """One direction's figures. A run of a two-way connector keeps the finished directions' figures in
    `earlier`: the job's Knora fields are then the sums, and `progress["directions"]` has each one."""

    synced: int = 0
    found: int | None = None
    imported: int = 0
    skipped: int = 0
    created: int = 0
    failed: int = 0
    deleted: int = 0
    direction: str = "pull"
    earlier: dict[str, Counters] = field(default_factory=dict)

    @classmethod
    def resumed_from(cls, progress: dict[str, Any], at_checkpoint: dict[str, Any], direction: str = "pull") -> Counters:
        """The counts an interrupted attempt of the same job leaves to the next one.

        The next attempt pulls again from the last checkpoint, so the records seen since are counted
        from the figures saved with it; the entries created and deleted are facts of the database,
        written in the same transaction as `progress`, so they carry on from there."""
        return cls(
            synced=at_checkpoint.get("records_synced") or 0,
            imported=at_checkpoint.get("records_imported") or 0,
            skipped=at_checkpoint.get("records_skipped") or 0,
            failed=at_checkpoint.get("records_failed") or 0,
            created=progress.get("entries_created") or 0,
            deleted=progress.get("entries_deleted") or 0,
            direction=direction,
        )

    @classmethod
    def from_figures(cls, figures: dict[str, Any], direction: str) -> Counters:
        """Counters saved whole (by `figures`), e.g. those of a direction already finished."""
        return cls(
            synced=figures.get("records_synced") or 0,
            found=figures.get("records_found"),
            imported=figures.get("records_imported") or 0,
            skipped=figures.get("records_skipped") or 0,
            created=figures.get("entries_created") or 0,
            failed=figures.get("records_failed") or 0,
            deleted=figures.get("entries_deleted") or 0,
            direction=direction,
        )

    def next_direction(self, direction: str) -> Counters:
        """Fresh counters for the run's next direction, carrying this one's as finished."""
        return Counters(direction=direction, earlier={**self.earlier, self.direction: self})

    def figures(self) -> dict[str, Any]:
        """This direction alone, by Knora's names (and ours for what Knora has no field for)."""
        return {
            "records_synced": self.synced,
            "records_found": self.found,
            "records_imported": self.imported,
            "records_skipped": self.skipped,
            "records_failed": self.failed,
            "entries_created": self.created,
            "entries_deleted": self.deleted,
        }

    def totals(self) -> dict[str, Any]:
        """The figures summed over the run's directions so far."""
        parts = [*self.earlier.values(), self]
        totals = {key: sum(part.figures()[key] or 0 for part in parts) for key in self.figures()}
        if all(part.found is None for part in parts):
            totals["records_found"] = None
        return totals

    def progress(self) -> dict[str, Any]:
        totals = self.totals()
        found = totals["records_found"]
        percent = None if not found else min(100, round(100 * totals["records_synced"] / found))
        progress = {"percent": percent, **totals}
        if self.earlier or self.direction != "pull":
            progress["direction"] = self.direction
            progress["directions"] = {
                name: part.figures() for name, part in [*self.earlier.items(), (self.direction, self)]
            }
        return progress


@dataclass(frozen=True)
class RunOutcome:
    """What the task needs to know: retry later (after `retry_in` seconds), try again after `defer_in`
    seconds without it counting as a retry (the organisation's runs slots are taken; it has waited since
    `waiting_since`, a Unix time), or done."""

    status: str
    retry_in: float | None = None
    defer_in: float | None = None
    waiting_since: float | None = None


@dataclass
class Lease:
    """This worker's hold on one job: every write goes through it and matches its fencing token."""

    job: SyncJob
    token: int
    last_beat: float = field(default_factory=time.monotonic)
    last_lost_check: float = 0.0
    lost: bool = False

    def owned(self):
        return SyncJob.objects.filter(pk=self.job.pk, fencing_token=self.token, status=JobStatus.RUNNING)

    def write(self, **columns: Any) -> None:
        """One conditional UPDATE of the job; raises LeaseLost when the lease is no longer ours."""
        now = timezone.now()
        if not self.owned().update(**columns, heartbeat_at=now, updated_at=now):
            raise LeaseLost(str(self.job.pk))
        self.last_beat = time.monotonic()

    def hold(self) -> None:
        """Lock the job row for the current transaction if the lease is still ours (fences other writes:
        the reaper waits for this transaction, and after it the token no longer matches)."""
        if not list(self.owned().select_for_update().values_list("pk", flat=True)):
            raise LeaseLost(str(self.job.pk))

    def is_lost(self) -> bool:
        """Has the lease been taken (a cancel, the reaper) or the job deleted with its integration? Asked
        by connectors between polls of a remote run; read at most every LOST_CHECK_INTERVAL seconds."""
        now = time.monotonic()
        if self.lost or now - self.last_lost_check >= LOST_CHECK_INTERVAL:
            self.last_lost_check = now
            self.lost = self.lost or not self.owned().exists()
        return self.lost

    def heartbeat(self, *, force: bool = False) -> None:
        if force or time.monotonic() - self.last_beat >= HEARTBEAT_INTERVAL:
            self.write()


class OrganisationBusy(Exception):  # noqa: N818 (not an error: the job waits its turn)
    """The organisation already runs RUNS_PER_ORGANISATION_MAX jobs: this pending one stays pending."""


def _organisation_slots_taken(*, org_id: str, job_id: str, now: datetime) -> bool:
    """Does the organisation run as many live jobs as it may? Its row is locked for the transaction, so
    two workers claiming two of its jobs at once count one after the other. A job whose heartbeat is
    stale holds no worker (the reaper will put it back)."""
    Organisation.objects.select_for_update().filter(pk=org_id).values_list("pk", flat=True).first()
    live = SyncJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__gte=now - heartbeat_timeout())
    running = live.filter(organisation_id=org_id).exclude(pk=job_id).count()
    return running >= settings.RUNS_PER_ORGANISATION_MAX


def _pending_touched(*, org_id: str, job_id: str, now: datetime) -> bool:
    """Is the job pending? Then it is touched: its task is alive (sent again later, see OrganisationBusy),
    so the reaper does not take it for a lost one."""
    waiting = SyncJob.objects.filter(id=job_id, organisation_id=org_id, status=JobStatus.PENDING)
    return bool(waiting.update(updated_at=now))


def job_claim(*, job_id: str, org_id: str, fair: bool = True) -> tuple[Lease, bool] | None:
    """Take the job's lease: a pending job, or a running one whose owner stopped heartbeating (a task
    redelivered after its worker died). A job whose lease is live is left alone (None). Returns the lease
    and whether this claim resumes an interrupted run.

    With `fair`, a pending job of an organisation that runs RUNS_PER_ORGANISATION_MAX jobs already is
    not claimed: OrganisationBusy, and the job stays pending (no attempt counted)."""
    now = timezone.now()
    # The count and the claim in one transaction, the organisation's row locked: two workers cannot
    # both take its last slot.
    with transaction.atomic():
        deferred = fair and _organisation_slots_taken(org_id=org_id, job_id=job_id, now=now)
        deferred = deferred and _pending_touched(org_id=org_id, job_id=job_id, now=now)
        claimed = None if deferred else _lease_take(job_id=job_id, org_id=org_id, now=now)
    if deferred:
        raise OrganisationBusy(org_id)  # after the commit: the touch is kept
    return claimed


def _lease_take(*, job_id: str, org_id: str, now: datetime) -> tuple[Lease, bool] | None:
    stale = Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - heartbeat_timeout())
    job = (
        SyncJob.objects.select_for_update()
        .filter(Q(status=JobStatus.PENDING) | stale, id=job_id, organisation_id=org_id)
        .first()
    )
    if job is None:
        return None
    took_over = job.status == JobStatus.RUNNING
    SyncJob.objects.filter(pk=job.pk).update(
        resumes=F("resumes") + (1 if took_over else 0),
        status=JobStatus.RUNNING,
        fencing_token=F("fencing_token") + 1,
        attempts=F("attempts") + 1,
        started_at=job.started_at or now,
        heartbeat_at=now,
        updated_at=now,
        error_message=None,
    )
    job = SyncJob.objects.select_related("integration").get(pk=job.pk)
    integration_state_set(integration_id=job.integration_id, status=IntegrationStatus.SYNCING)
    return Lease(job=job, token=job.fencing_token), took_over


def job_progress_save(lease: Lease, counters: Counters, log: JobLog) -> None:
    lease.write(progress=counters.progress(), log=log.as_json())


def job_checkpoint_save(lease: Lease, counters: Counters, log: JobLog, checkpoint: dict[str, Any]) -> None:
    """The integration's cursor and the counts that go with it, in one transaction under the lease (the
    caller's, when it has one: a pull saves a cursor with the batch it follows)."""
    with transaction.atomic(savepoint=False):
        lease.write(progress=counters.progress(), checkpoint_progress=counters.progress(), log=log.as_json())
        integration_state_set(integration_id=lease.job.integration_id, sync_checkpoint=checkpoint)


def job_complete(lease: Lease, log: JobLog, counters: Counters) -> RunOutcome:
    now, totals = timezone.now(), counters.totals()
    with transaction.atomic():
        lease.write(
            status=JobStatus.COMPLETED,
            completed_at=now,
            records_synced=totals["records_synced"],
            records_found=totals["records_synced"] if totals["records_found"] is None else totals["records_found"],
            records_imported=totals["records_imported"],
            records_skipped=totals["records_skipped"],
            threads_grouped=0,  # no connector assembles message threads yet
            entries_created=totals["entries_created"],
            progress={**counters.progress(), "percent": 100, **_attempts(lease)},
            log=log.as_json(),
        )
        integration_state_set(
            integration_id=lease.job.integration_id, status=IntegrationStatus.ACTIVE, last_sync_at=now
        )
    return RunOutcome(status=JobStatus.COMPLETED)


def job_fail(lease: Lease, log: JobLog, counters: Counters, message: str) -> RunOutcome:
    log.add("error", message)
    with transaction.atomic():
        lease.write(
            status=JobStatus.FAILED,
            completed_at=timezone.now(),
            error_message=message,
            progress={**counters.progress(), **_attempts(lease)},
            log=log.as_json(),
        )
        integration_state_set(integration_id=lease.job.integration_id, status=IntegrationStatus.ERROR)
    return RunOutcome(status=JobStatus.FAILED)


def job_release_for_retry(lease: Lease, log: JobLog, counters: Counters, message: str, retry_in: float) -> RunOutcome:
    """Back to pending; the next attempt resumes from the last checkpoint with these counts."""
    log.add("warning", f"{message} Retrying in {round(retry_in)} s.")
    with transaction.atomic():
        lease.write(status=JobStatus.PENDING, log=log.as_json(), progress=counters.progress())
        integration_state_set(integration_id=lease.job.integration_id, status=IntegrationStatus.ACTIVE)
    return RunOutcome(status=JobStatus.PENDING, retry_in=retry_in)


def _attempts(lease: Lease) -> dict[str, int]:
    job = SyncJob.objects.filter(pk=lease.job.pk).values("attempts", "resumes").first() or {}
    return {"attempts": job.get("attempts", 0), "resumes": job.get("resumes", 0)}


def sync_jobs_reap_stale(*, now: datetime | None = None) -> int:
    """Take the lease of running jobs whose heartbeat is older than the timeout: put each back to pending
    (to resume from its checkpoint) or, once resumed SYNC_MAX_RESUMES times, fail it; and enqueue again
    the pending jobs whose task was lost. Returns how many jobs were reaped or enqueued again."""
    now = now or timezone.now()
    return _stale_running_jobs_reap(now) + _lost_pending_jobs_enqueue(now) + _silent_slices_release(now)


def _silent_slices_release(now: datetime) -> int:
    """A spread run's slice whose part went silent while the job lives on (its other parts heartbeat):
    put it back to pending and send one more part for the job, which resumes it from its cursor. The
    silent part, should it wake, finds its claim gone and writes nothing more of that slice."""
    from integrations.models import SliceStatus, SyncJobSlice
    from integrations.tasks import run_sync_slices

    cutoff = now - heartbeat_timeout()
    silent = SyncJobSlice.objects.filter(
        status=SliceStatus.RUNNING,
        heartbeat_at__lt=cutoff,
        job__status=JobStatus.RUNNING,
        job__heartbeat_at__gte=cutoff,
    ).select_related("job")
    released, jobs = 0, {}
    for row in silent:
        put_back = SyncJobSlice.objects.filter(pk=row.pk, claims=row.claims, status=SliceStatus.RUNNING)
        if put_back.update(status=SliceStatus.PENDING):
            logger.warning("Sync job %s: slice %r went silent; put back for another part.", row.job_id, row.name)
            released += 1
            jobs[row.job_id] = row.job
    for job in jobs.values():
        run_sync_slices.delay(str(job.pk), str(job.organisation_id), job.fencing_token)
    return released


def _lost_pending_jobs_enqueue(now: datetime) -> int:
    """A pending job untouched for SYNC_PENDING_TIMEOUT_SECONDS (past the longest retry countdown) has
    most likely lost its task: Redis keeps nothing over a restart, a queue may be purged. Enqueue it
    again, once per that time. If its task was only waiting in a busy queue, the claim lets one of the
    two run it and the other finds nothing to do."""
    from integrations.tasks import run_sync_job

    cutoff = now - timedelta(seconds=settings.SYNC_PENDING_TIMEOUT_SECONDS)
    enqueued = 0
    for job in SyncJob.objects.filter(status=JobStatus.PENDING, updated_at__lt=cutoff).only(
        "id", "organisation_id", "updated_at"
    ):
        with transaction.atomic():
            # Conditional, so two reapers at once enqueue it once.
            touched = SyncJob.objects.filter(pk=job.pk, status=JobStatus.PENDING, updated_at=job.updated_at)
            if touched.update(updated_at=now):
                logger.warning("Sync job %s was pending past the bound; enqueued again.", job.pk)
                job_id, org_id = str(job.pk), str(job.organisation_id)
                transaction.on_commit(lambda job_id=job_id, org_id=org_id: run_sync_job.delay(job_id, org_id))
                enqueued += 1
    return enqueued


def _stale_running_jobs_reap(now: datetime) -> int:
    from integrations.tasks import run_sync_job

    cutoff = now - heartbeat_timeout()
    stale = SyncJob.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    )
    reaped = 0
    for job in stale.only("id", "organisation_id", "integration_id", "fencing_token", "resumes", "log"):
        log = JobLog(list(job.log or []))
        silent = round(heartbeat_timeout().total_seconds())
        owned = SyncJob.objects.filter(pk=job.pk, fencing_token=job.fencing_token, status=JobStatus.RUNNING)
        with transaction.atomic():
            if job.resumes >= settings.SYNC_MAX_RESUMES:
                message = (
                    f"The sync stopped without finishing (worker lost) and was not resumed again: "
                    f"it had already been resumed {job.resumes} time(s)."
                )
                log.add("error", message)
                done = owned.update(
                    status=JobStatus.FAILED,
                    fencing_token=F("fencing_token") + 1,
                    completed_at=now,
                    error_message=message,
                    log=log.as_json(),
                    updated_at=now,
                )
                if done:
                    integration_state_set(integration_id=job.integration_id, status=IntegrationStatus.ERROR)
            else:
                log.add(
                    "warning", f"No heartbeat for over {silent} s (worker lost); resuming from the last checkpoint."
                )
                done = owned.update(
                    status=JobStatus.PENDING,
                    fencing_token=F("fencing_token") + 1,
                    resumes=F("resumes") + 1,
                    log=log.as_json(),
                    updated_at=now,
                )
                if done:
                    job_id, org_id = str(job.pk), str(job.organisation_id)
                    transaction.on_commit(lambda job_id=job_id, org_id=org_id: run_sync_job.delay(job_id, org_id))
        reaped += done
    return reaped


def job_cancel(*, integration_id: Any, organisation_id: Any, cancelled_by: str) -> SyncJob | None:
    """End the integration's active job as `failed`, saying who cancelled it; None when none is active.

    The cancel takes the job's lease (the fencing token moves on), so its worker writes nothing more
    and stops at its next write; a connector polling a remote run sees it (Lease.is_lost) and stops
    that run upstream. A pending job never starts: its task finds nothing to claim."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            SyncJob.objects.select_for_update()
            .filter(integration_id=integration_id, organisation_id=organisation_id, status__in=ACTIVE_STATUSES)
            .first()
        )
        if job is None:
            return None
        message = f"Cancelled by {cancelled_by}."
        log = JobLog(list(job.log or []))
        log.add("warning", message)
        SyncJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            fencing_token=F("fencing_token") + 1,
            completed_at=now,
            error_message=message,
            log=log.as_json(),
            updated_at=now,
        )
        integration_state_set(integration_id=integration_id, status=IntegrationStatus.ACTIVE)
    job.refresh_from_db()
    return job
