"""Sync jobs: request one (one at a time per integration), run it, reap the ones a crash left behind."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from connectors.base import (
    Checkpoint,
    Connector,
    Deletion,
    Found,
    Record,
    RecordFailure,
    Skipped,
    Warning,
)
from connectors.capabilities import PullSource, PushDestination
from connectors.errors import UpstreamError
from hub.models import Organisation, User
from integrations.knowledge import UpsertResult, entries_tombstone, entries_upsert
from integrations.models import Integration, IntegrationStatus, JobStatus, SyncJob
from integrations.push import push_changed_entries
from integrations.selectors import active_job
from integrations.services import connector_for

logger = logging.getLogger(__name__)

# Records per write; COPY and one merge per batch make larger batches cheaper per row.
BATCH_SIZE = 2000
LOG_MAX_LINES = 200
LOG_LINE_MAX_CHARS = 500
STALE_AFTER = timedelta(minutes=30)
# A slow upstream still shows progress: write what we have at least this often (seconds).
PROGRESS_INTERVAL = 1.0
# What a database (or the adaptation of a value for it) raises about one row's data: a column's
# limit or type, a constraint or trigger, a value the driver cannot send.
RECORD_WRITE_ERRORS = (DataError, IntegrityError, ValueError, TypeError, OverflowError)


def sync_job_request(
    *, organisation: Organisation, integration: Integration, user: User | None
) -> tuple[SyncJob, bool]:
    """Create a pending job and enqueue it, or return the job already under way (and False)."""
    from integrations.tasks import run_sync_job

    try:
        with transaction.atomic():
            # Serialises concurrent requests; the partial unique index is the last line of defence.
            Integration.objects.select_for_update().filter(pk=integration.pk).first()
            if running := active_job(integration=integration):
                return running, False
            job = SyncJob.objects.create(organisation=organisation, integration=integration, triggered_by=user)
            transaction.on_commit(lambda: run_sync_job.delay(str(job.id), str(organisation.id)))
    except IntegrityError:
        running = active_job(integration=integration)
        if running is None:
            raise
        return running, False
    return job, True


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
    synced: int = 0
    found: int | None = None
    imported: int = 0
    skipped: int = 0
    created: int = 0
    failed: int = 0
    deleted: int = 0

    @classmethod
    def resumed_from(cls, progress: dict[str, Any]) -> Counters:
        """The counts an earlier attempt of the same job saved in its `progress`."""
        return cls(
            synced=progress.get("records_synced") or 0,
            imported=progress.get("records_imported") or 0,
            skipped=progress.get("records_skipped") or 0,
            created=progress.get("entries_created") or 0,
            failed=progress.get("records_failed") or 0,
            deleted=progress.get("entries_deleted") or 0,
        )

    def progress(self) -> dict[str, Any]:
        total = self.found
        percent = None if not total else min(100, round(100 * self.synced / total))
        return {
            "percent": percent,
            "records_synced": self.synced,
            "records_found": total,
            "records_imported": self.imported,
            "records_skipped": self.skipped,
            "records_failed": self.failed,
            "entries_created": self.created,
            "entries_deleted": self.deleted,
        }


@dataclass(frozen=True)
class RunOutcome:
    """What the task needs to know: retry later (after `retry_in` seconds) or done."""

    status: str
    retry_in: float | None = None


def sync_job_run(*, job_id: str, org_id: str, final_attempt: bool = True) -> RunOutcome:
    """Run a pending job to `completed` or `failed`; a retryable upstream error may put it back."""
    job = _claim(job_id=job_id, org_id=org_id)
    if job is None:
        return RunOutcome(status="skipped")
    integration = job.integration
    # A job put back by _release_for_retry resumes from its checkpoint: its counts and log go on.
    log, counters = JobLog(list(job.log or [])), Counters.resumed_from(job.progress or {})
    try:
        connector = connector_for(integration)
        if isinstance(connector, PullSource):
            _pull(job, integration, connector, log, counters)
        elif isinstance(connector, PushDestination):
            _push(job, integration, connector, log, counters)
        else:
            log.add("info", "This connector receives data as it is posted; there is nothing to pull.")
    except UpstreamError as exc:
        if exc.retryable and not final_attempt:
            return _release_for_retry(job, integration, log, counters, exc)
        return _fail(job, integration, log, counters, exc.message)
    except Exception as exc:  # a connector bug must not leave the job running
        logger.exception("Sync job %s crashed", job.id)
        return _fail(job, integration, log, counters, f"Unexpected error: {type(exc).__name__}.")
    return _complete(job, integration, log, counters)


def _claim(*, job_id: str, org_id: str) -> SyncJob | None:
    """Mark the job running unless another delivery of the task got there first."""
    now = timezone.now()
    with transaction.atomic():
        claimed = SyncJob.objects.filter(id=job_id, organisation_id=org_id, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING, started_at=now, updated_at=now, error_message=None
        )
        if not claimed:
            return None
        job = SyncJob.objects.select_related("integration").get(id=job_id)
        Integration.objects.filter(pk=job.integration_id).update(status=IntegrationStatus.SYNCING, updated_at=now)
    return job


class _PendingWrites:
    """Records and deletions waiting to be written in one batch, in an order-safe way: a record and
    a deletion of the same object never wait together, so the newer of the two always wins."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.deletions: list[Deletion] = []
        self.record_ids: set[str] = set()
        self.deletion_ids: set[str] = set()

    def conflicts_with(self, item: Record | Deletion) -> bool:
        other = self.deletion_ids if isinstance(item, Record) else self.record_ids
        return item.external_id in other

    def add(self, item: Record | Deletion) -> None:
        if isinstance(item, Record):
            self.records.append(item)
            self.record_ids.add(item.external_id)
        else:
            self.deletions.append(item)
            self.deletion_ids.add(item.external_id)

    def __len__(self) -> int:
        return len(self.records) + len(self.deletions)

    def clear(self) -> None:
        self.records, self.deletions = [], []
        self.record_ids, self.deletion_ids = set(), set()


def _pull(job: SyncJob, integration: Integration, connector: Connector, log: JobLog, counters: Counters) -> None:
    pending = _PendingWrites()
    skipped_reasons: Counter[str] = Counter()
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        last_flush = time.monotonic()
        if pending.records:
            result, failures = _records_write(integration, pending.records)
            counters.created += result.created
            counters.imported += result.created + result.updated + result.unchanged
            for failure in failures:
                counters.failed += 1
                log.add("error", failure.reason, external_id=failure.external_id)
                logger.warning(
                    "Record %r of integration %s not stored: %s", failure.external_id, integration.id, failure.reason
                )
            # Two records with one external_id in one batch count once; the rest are duplicates.
            written = result.created + result.updated + result.unchanged + len(failures)
            counters.skipped += len(pending.records) - written
        if pending.deletions:
            counters.deleted += entries_tombstone(integration=integration, deletions=pending.deletions)
        pending.clear()
        _save_progress(job, counters, log)

    for item in connector.pull(dict(integration.sync_checkpoint)):
        if isinstance(item, Record | Deletion):
            if isinstance(item, Record):
                counters.synced += 1
                if not (item.content.strip() or item.title.strip()):
                    counters.skipped += 1
                    continue
            if pending.conflicts_with(item):
                flush()  # write the older state first, so this newer one wins
            pending.add(item)
            if len(pending) >= BATCH_SIZE or time.monotonic() - last_flush >= PROGRESS_INTERVAL:
                flush()
        elif isinstance(item, Skipped):
            counters.synced += 1
            counters.skipped += 1
            skipped_reasons[item.reason] += 1
        elif isinstance(item, RecordFailure):
            counters.synced += 1
            counters.failed += 1
            log.add("error", item.reason, external_id=item.external_id)
        elif isinstance(item, Checkpoint):
            # Persist the cursor only after everything before it is written.
            flush()
            integration.sync_checkpoint = item.state
            Integration.objects.filter(pk=integration.pk).update(sync_checkpoint=item.state)
        elif isinstance(item, Found):
            counters.found = item.total
        elif isinstance(item, Warning):
            log.add("warning", item.message)
    for reason, count in skipped_reasons.most_common():
        log.add("info", f"Skipped {count} record(s): {reason}.")
    flush()


def _records_write(integration: Integration, records: list[Record]) -> tuple[UpsertResult, list[RecordFailure]]:
    """Write one batch; when the database refuses it, write it row by row so one bad record fails alone.

    Returns the counts of what was written and one failure per record that was not (refused by the
    write rule, or refused by the database). Each attempt is its own savepoint, so a refused row
    leaves no half-written batch and no broken transaction behind. Only errors about the data are a
    record's failure; a lost connection, a lock or a timeout (OperationalError and the like) fail the
    job, so its cursor stays and the next run writes the batch again.
    """
    try:
        with transaction.atomic():
            result = entries_upsert(integration=integration, records=records)
        return result, list(result.refused)
    except RECORD_WRITE_ERRORS as exc:
        logger.warning(
            "A batch of %d records for integration %s failed to write (%s); retrying row by row.",
            len(records),
            integration.id,
            type(exc).__name__,
        )
    total, failures = UpsertResult(), []
    # The last record of an external id wins, as in a batch.
    for record in {record.external_id: record for record in records}.values():
        try:
            with transaction.atomic():
                one = entries_upsert(integration=integration, records=[record])
        except RECORD_WRITE_ERRORS as exc:
            reason = f"The record could not be stored: {_database_reason(exc)}"
            failures.append(RecordFailure(external_id=record.external_id, reason=reason))
            continue
        total.created, total.updated, total.unchanged = (
            total.created + one.created,
            total.updated + one.updated,
            total.unchanged + one.unchanged,
        )
        failures.extend(one.refused)
    return total, failures


def _database_reason(exc: Exception) -> str:
    """The database's first line, kept short: it names the limit or constraint; the values, on the
    DETAIL lines that follow, are left out of the job's log."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line[:200]}" if first_line else type(exc).__name__


def _push(job: SyncJob, integration: Integration, connector: Connector, log: JobLog, counters: Counters) -> None:
    outcome, checkpoint, offered = push_changed_entries(integration=integration, connector=connector)
    counters.synced = counters.found = offered
    counters.imported = outcome.pushed
    counters.failed = len(outcome.failed)
    for failure in outcome.failed:
        log.add("error", failure.reason, external_id=failure.external_id)
    for message in outcome.warnings:
        log.add("warning", message)
    integration.sync_checkpoint = checkpoint
    Integration.objects.filter(pk=integration.pk).update(sync_checkpoint=checkpoint)


def _save_progress(job: SyncJob, counters: Counters, log: JobLog) -> None:
    job.progress = counters.progress()
    job.log = log.as_json()
    job.save(update_fields=["progress", "log", "updated_at"])


def _complete(job: SyncJob, integration: Integration, log: JobLog, counters: Counters) -> RunOutcome:
    now = timezone.now()
    job.status = JobStatus.COMPLETED
    job.completed_at = now
    job.records_synced = counters.synced
    job.records_found = counters.found if counters.found is not None else counters.synced
    job.records_imported = counters.imported
    job.records_skipped = counters.skipped
    job.threads_grouped = 0  # no connector assembles message threads yet
    job.entries_created = counters.created
    job.progress = {**counters.progress(), "percent": 100}
    job.log = log.as_json()
    job.save()
    Integration.objects.filter(pk=integration.pk).update(
        status=IntegrationStatus.ACTIVE, last_sync_at=now, updated_at=now
    )
    return RunOutcome(status=JobStatus.COMPLETED)


def _fail(job: SyncJob, integration: Integration, log: JobLog, counters: Counters, message: str) -> RunOutcome:
    now = timezone.now()
    job.status = JobStatus.FAILED
    job.completed_at = now
    job.error_message = message
    job.progress = counters.progress()
    log.add("error", message)
    job.log = log.as_json()
    job.save()
    Integration.objects.filter(pk=integration.pk).update(status=IntegrationStatus.ERROR, updated_at=now)
    return RunOutcome(status=JobStatus.FAILED)


def _release_for_retry(
    job: SyncJob, integration: Integration, log: JobLog, counters: Counters, exc: UpstreamError
) -> RunOutcome:
    """Back to pending; the next attempt resumes from the last checkpoint with these counts."""
    retry_in = getattr(exc, "retry_after", None) or 30.0
    log.add("warning", f"{exc.message} Retrying in {round(retry_in)} s.")
    SyncJob.objects.filter(pk=job.pk).update(
        status=JobStatus.PENDING, log=log.as_json(), progress=counters.progress(), updated_at=timezone.now()
    )
    Integration.objects.filter(pk=integration.pk).update(status=IntegrationStatus.ACTIVE, updated_at=timezone.now())
    return RunOutcome(status=JobStatus.PENDING, retry_in=retry_in)


def sync_jobs_reap_stale(*, older_than: timedelta = STALE_AFTER) -> int:
    """Fail jobs whose worker died: running or pending with no progress for `older_than`."""
    cutoff = timezone.now() - older_than
    stale = SyncJob.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING], updated_at__lt=cutoff)
    reaped = 0
    for job in stale.select_related("integration"):
        log = JobLog(list(job.log or []))
        _fail(job, job.integration, log, Counters(), "The sync stopped without finishing (worker lost).")
        reaped += 1
    return reaped
