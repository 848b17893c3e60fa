"""The pull loop: a source's records, deletions and checkpoints written in batches under the job's lease."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction

from connectors.base import (
    Checkpoint,
    Connector,
    Deletion,
    Found,
    PullItem,
    Record,
    RecordFailure,
    Skipped,
    Warning,
)
from connectors.capabilities import PushDestination, SlicedPull
from connectors.errors import UpstreamError
from integrations.knowledge import UpsertResult, entries_tombstone
from integrations.knowledge.files import entry_files_write
from integrations.knowledge.writes import entries_upsert_prepared
from integrations.models import Integration
from integrations.runs.jobs import Counters, JobLog, Lease, job_checkpoint_save, job_progress_save
from integrations.runs.prepared import PreparedRecord, record_prepared
from integrations.runs.push import remote_ids_written_by
from integrations.runs.slices import SliceCheckpoint, SliceRun

logger = logging.getLogger(__name__)

# Records per write; COPY and one merge per batch make larger batches cheaper per row.
BATCH_SIZE = 2000
# A slow upstream still shows progress: write what we have at least this often (seconds).
PROGRESS_INTERVAL = 1.0
# What a database (or the adaptation of a value for it) raises about one row's data: a column's
# limit or type, a constraint or trigger, a value the driver cannot send.
ECHO_REASON = "written upstream by this hub's own push"
RECORD_WRITE_ERRORS = (DataError, IntegrityError, ValueError, TypeError, OverflowError)


class _PendingWrites:
    """Records and deletions waiting to be written in one batch, in an order-safe way: a record and
    a deletion of the same object never wait together, so the newer of the two always wins."""

    def __init__(self) -> None:
        self.records: list[PreparedRecord] = []
        self.deletions: list[Deletion] = []
        self.record_ids: set[str] = set()
        self.deletion_ids: set[str] = set()

    def conflicts_with(self, item: PreparedRecord | Deletion) -> bool:
        other = self.deletion_ids if isinstance(item, PreparedRecord) else self.record_ids
        return item.external_id in other

    def add(self, item: PreparedRecord | Deletion) -> None:
        if isinstance(item, PreparedRecord):
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


class JobWrites:
    """Where a pull's batches, progress and cursors go: the job's own row, under its lease."""

    def __init__(self, lease: Lease, integration: Integration, counters: Counters, log: JobLog) -> None:
        self.lease, self.integration, self.counters, self.log = lease, integration, counters, log

    def fence(self) -> None:
        """In each batch's transaction, before anything is written: the lease is still ours."""
        self.lease.hold()

    def progress_save(self) -> None:
        """In the batch's transaction, after its writes (unless a cursor is saved instead)."""
        job_progress_save(self.lease, self.counters, self.log)

    def batch_written(self) -> None:
        """After the batch's transaction committed."""

    def checkpoint_save(self, state: dict[str, Any]) -> None:
        """In the batch's transaction, after its writes: the cursor, with the progress it goes with."""
        job_checkpoint_save(self.lease, self.counters, self.log, state)
        self.integration.sync_checkpoint = state

    def heartbeat(self) -> None:
        self.lease.heartbeat()


def pull_run(lease: Lease, integration: Integration, connector: Connector, log: JobLog, counters: Counters) -> None:
    """Pull from the integration's checkpoint on; every batch is written in one transaction that holds
    the lease, so a worker that lost it writes no entry, no progress and no cursor. A sliced pull that
    RUN_SLICE_TASKS spreads over workers goes to integrations.runs.spread."""
    from integrations.runs.spread import pull_spread, spreads  # it builds on this module

    if spreads(connector):
        pull_spread(lease, integration, connector, log, counters)
        return
    writes = JobWrites(lease, integration, counters, log)
    # A two-way connector must not pull back in what its own push wrote upstream (no echo).
    pull_items_write(
        _pulled(connector, integration),
        integration,
        writes,
        log,
        counters,
        guards_echo=isinstance(connector, PushDestination),
    )


def pull_items_write(
    items: Iterator[PullItem | PreparedRecord | SliceCheckpoint | None],
    integration: Integration,
    writes: JobWrites,
    log: JobLog,
    counters: Counters,
    *,
    guards_echo: bool = False,
) -> None:
    """Write a pull's items in batches through `writes`: records and deletions, each Checkpoint once
    everything before it is written, the counts and the log. A None item is a tick (nothing arrived).
    A record comes as the connector yielded it, or prepared already in the thread that pulled it."""
    pending = _PendingWrites()
    skipped_reasons: Counter[str] = Counter()
    last_flush = time.monotonic()
    # A slice's checkpoint waits for the next batch (flushing at each would shrink the batches by the
    # number of slices); the entries it waits with are written first, so it never gets ahead of them.
    checkpoint_due: dict[str, Any] | None = None

    def flush() -> None:
        nonlocal last_flush, checkpoint_due
        last_flush = time.monotonic()
        with transaction.atomic():
            writes.fence()
            if guards_echo and (echoes := _echoes_drop(integration, pending)):
                counters.skipped += echoes
                skipped_reasons[ECHO_REASON] += echoes
            _pending_write(integration, pending, log, counters)
            # A cursor due is saved with the batch it follows: one commit, and never ahead of its entries.
            if checkpoint_due is None:
                writes.progress_save()
            else:
                writes.checkpoint_save(checkpoint_due)
        checkpoint_due = None
        pending.clear()
        writes.batch_written()

    def take(item: PullItem | PreparedRecord | SliceCheckpoint) -> None:
        nonlocal checkpoint_due
        if isinstance(item, Record | PreparedRecord | Deletion):
            if not isinstance(item, Deletion):
                counters.synced += 1
                record = item.record if isinstance(item, PreparedRecord) else item
                if not (record.content.strip() or record.title.strip()):
                    counters.skipped += 1
                    return
                if isinstance(item, Record):
                    item = record_prepared(item)  # a pull without slices prepares its records here
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
            # Persist the cursor at once, with everything before it.
            checkpoint_due = item.state
            flush()
        elif isinstance(item, SliceCheckpoint):
            checkpoint_due = item.state
            if not pending:
                flush()
        elif isinstance(item, Found):
            counters.found = item.total
        elif isinstance(item, Warning):
            log.add("warning", item.message)

    try:
        for item in items:
            if item is not None:
                take(item)
            elif pending and time.monotonic() - last_flush >= PROGRESS_INTERVAL:
                flush()  # a tick while slices fetch: what waits is written
            writes.heartbeat()
    except UpstreamError:
        if checkpoint_due is not None:
            flush()  # what the other slices fetched before one failed is kept, with their cursors
        raise
    for reason, count in skipped_reasons.most_common():
        log.add("info", f"Skipped {count} record(s): {reason}.")
    flush()


def _pulled(connector: Connector, integration: Integration) -> Iterator[PullItem | SliceCheckpoint | None]:
    """The pull's items; a sliced pull's come from its slices at once (and None when a tick passes)."""
    checkpoint = dict(integration.sync_checkpoint)
    if isinstance(connector, SlicedPull):
        return SliceRun(connector, checkpoint, concurrency=settings.RUN_MAX_CONCURRENT_SLICES).items()
    return connector.pull(checkpoint)


def _echoes_drop(integration: Integration, pending: _PendingWrites) -> int:
    """Drop the records this hub's push created upstream; returns how many."""
    written = remote_ids_written_by(integration, [record.external_id for record in pending.records])
    if not written:
        return 0
    kept = [record for record in pending.records if record.external_id not in written]
    dropped = len(pending.records) - len(kept)
    pending.records = kept
    return dropped


def _pending_write(integration: Integration, pending: _PendingWrites, log: JobLog, counters: Counters) -> None:
    if pending.records:
        result, failures = records_write(integration, pending.records)
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
    records = [prepared.record for prepared in pending.records]
    entry_files_write(integration=integration, records=records, deletions=pending.deletions, log=log)


def records_write(integration: Integration, records: list[PreparedRecord]) -> tuple[UpsertResult, list[RecordFailure]]:
    """Write one batch; when the database refuses it, write it row by row so one bad record fails alone.

    Returns the counts of what was written and one failure per record that was not (refused by the
    write rule, or refused by the database). Each attempt is its own savepoint, so a refused row
    leaves no half-written batch and no broken transaction behind. Only errors about the data are a
    record's failure; a lost connection, a lock or a timeout (OperationalError and the like) fail the
    job, so its cursor stays and the next run writes the batch again.
    """
    try:
        with transaction.atomic():
            result = entries_upsert_prepared(integration=integration, entries=[record.entry for record in records])
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
                one = entries_upsert_prepared(integration=integration, entries=[record.entry])
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
