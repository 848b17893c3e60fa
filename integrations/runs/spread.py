"""A sliced pull spread over several worker processes: the mapping is CPU work that threads in one
process cannot spread over cores (the GIL), so a large run hands its slices to more workers.

With RUN_SLICE_TASKS = N > 1, the run's own worker (the coordinator) opens the plan, stores one
SyncJobSlice row per slice and sends N - 1 `run_sync_slices` tasks (a Celery group on the runs
queue). Every part, the coordinator included, then claims slices one at a time (up to
RUN_MAX_CONCURRENT_SLICES at once, each in a thread with its own database connection) and runs each
through the one write path, under the job's fencing token and the slice's own claim:

- each batch takes the job's row FOR SHARE (the reaper and a cancel wait for it, and after them the
  token no longer matches) and its slice's row FOR UPDATE, so parts write side by side;
- a slice's cursor is merged into the integration's checkpoint under the integration's row lock;
- a slice proves it is alive by its heartbeat: one whose part went silent is claimed again by
  another part, or put back by the reaper (which then sends one more part), and resumes from its
  own cursor;
- the part that ends the last slice takes the final step (the plan's `finish`, then the job's
  completion), counted in the database under the job's lock rather than by a chord, whose callback
  would wait forever for a member whose worker died and whose slice another part took over.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from connectors.base import Checkpoint, Connector, PullItem, Warning
from connectors.capabilities import SlicedPull, SlicePlan, run_directions, slice_state
from connectors.http import cancel_checked, while_waiting
from integrations.models import Integration, SliceStatus, SyncJob, SyncJobSlice
from integrations.runs.jobs import (
    HEARTBEAT_INTERVAL,
    LOG_MAX_LINES,
    Counters,
    JobLog,
    Lease,
    LeaseLost,
    heartbeat_timeout,
)
from integrations.runs.prepared import PreparedRecord, records_prepared
from integrations.runs.pull import PROGRESS_INTERVAL, JobWrites, pull_items_write
from integrations.runs.slices import SliceCheckpoint, prefetched
from integrations.runs.state import integration_state_set

logger = logging.getLogger(__name__)

# The figures a slice adds to the run's (Counters.figures' names); records_found is summed apart.
FIGURE_KEYS = tuple(key for key in Counters().figures() if key != "records_found")
# What a run's counters hold of its pull (not its direction's name or earlier directions).
_COUNTED = tuple(field.name for field in dataclasses.fields(Counters) if field.name not in ("direction", "earlier"))

# How often a waiting part looks at the other parts' slices.
AWAIT_POLL_SECONDS = 0.5
# How long the parts a run sends have to arrive and claim their own share before others take it.
STEAL_AFTER_SECONDS = 2.0


class SlicesHandedOver(Exception):  # noqa: N818 (not an error: the run goes on in other workers)
    """This part ended its slices while other parts still run theirs; the last of them ends the job."""


class SliceLost(Exception):  # noqa: N818 (not an error of the run: another part took the slice over)
    """This part's claim on a slice was taken (its heartbeat looked stale): write nothing more of it."""


def spreads(connector: Connector) -> bool:
    """Is this run's pull spread over workers? A pull-only, sliced connector, with RUN_SLICE_TASKS > 1."""
    return settings.RUN_SLICE_TASKS > 1 and isinstance(connector, SlicedPull) and run_directions(connector) == ("pull",)


def pull_spread(lease: Lease, integration: Integration, connector: SlicedPull, log: JobLog, counters: Counters) -> None:
    """The coordinator's part: plan, hand slices to RUN_SLICE_TASKS - 1 more workers, take part.

    Returns when this part took the final step (`counters` and `log` are then the run's whole);
    raises SlicesHandedOver when another part will."""
    with connector.pull_slices(dict(integration.sync_checkpoint)) as plan:
        for note in plan.notes:
            if isinstance(note, Warning):
                log.add("warning", note.message)
        _counters_set(counters, spread_start(lease, plan.slices, counters, log))
        if (helpers := spread_parts(len(plan.slices)) - 1) > 0:
            _parts_send(lease, helpers)
        part = Part(lease, integration, connector, number=0)
        part.take_part(plan, log, counters, waits=True)


def spread_start(lease: Lease, names: tuple[str, ...], counters: Counters, log: JobLog) -> Counters:
    """Store one slice row per name and the figures every part starts from. A job resumed after its
    slices had begun starts again from what their checkpoints saved (their rows give way to new ones)."""
    job_id = lease.job.pk
    with transaction.atomic():
        lease.hold()
        earlier = list(SyncJobSlice.objects.filter(job_id=job_id))
        job = SyncJob.objects.only("spread").get(pk=job_id)
        if earlier and job.spread:
            base = _figures(job.spread.get("base") or {})
            counters = Counters.resumed_from(
                _figures_sum([base, *(row.progress for row in earlier)]),
                _figures_sum([base, *(row.checkpoint_progress for row in earlier)]),
            )
            _log_extend(log, earlier)
            SyncJobSlice.objects.filter(job_id=job_id).delete()
        SyncJobSlice.objects.bulk_create(SyncJobSlice(job_id=job_id, name=name) for name in names)
        spread = {
            "base": counters.figures(),
            "concurrency": settings.RUN_MAX_CONCURRENT_SLICES,
            "parts": spread_parts(len(names)),
            "started": time.time(),
        }
        lease.write(spread=spread, progress=counters.progress(), log=log.as_json())
    return counters


def spread_parts(slices: int) -> int:
    """How many parts a run of `slices` slices has: RUN_SLICE_TASKS, but no more than the slices or
    the slices it may run at once (each part runs one at least)."""
    return max(1, min(settings.RUN_SLICE_TASKS, settings.RUN_MAX_CONCURRENT_SLICES, slices))


def part_concurrency(per_run: int, parts: int, number: int | None) -> int:
    """The slices part `number` runs at once: RUN_MAX_CONCURRENT_SLICES is the run's bound, shared
    out over its parts (4 over 2 parts: 2 each; 4 over 3: 2, 1, 1). A part the reaper sent runs one."""
    if number is None:
        return 1
    return max(1, per_run // parts + (1 if number < per_run % parts else 0))


def _parts_send(lease: Lease, count: int) -> None:
    """Send `count` more parts of the run (one Celery group); a broker that refuses them leaves the
    slices to the parts that run (the coordinator at least)."""
    from celery import group

    from integrations.runs.engine import ENQUEUE_ERRORS
    from integrations.tasks import run_sync_slices

    job = lease.job
    signatures = [
        run_sync_slices.si(str(job.pk), str(job.organisation_id), lease.token, number) for number in range(1, count + 1)
    ]
    try:
        group(signatures).apply_async()
    except ENQUEUE_ERRORS as exc:
        logger.warning("Sync job %s: its slices' parts could not be sent (%s).", job.pk, type(exc).__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Part:
    """One worker's part in a spread run: threads that claim slices and write them, and, for the part
    that ends the last slice, the final step."""

    def __init__(self, lease: Lease, integration: Integration, connector: SlicedPull, *, number: int | None) -> None:
        """`number` says which share of the slices this part takes first (None: a part the reaper sent)."""
        self.lease, self.integration, self.connector = lease, integration, connector
        spread = SyncJob.objects.filter(pk=lease.job.pk).values_list("spread", flat=True).first() or {}
        parts = spread.get("parts") or 1
        self.concurrency = part_concurrency(spread.get("concurrency") or 1, parts, number)
        self.share = SliceShare(number, parts=parts, started=spread.get("started") or 0.0)
        self.stopped = threading.Event()
        self.progress_lock = threading.Lock()
        self.last_progress = 0.0
        self.failure: BaseException | None = None

    def take_part(self, plan: SlicePlan, log: JobLog, counters: Counters, *, waits: bool = False) -> None:
        """Run slices until none is left to claim; then take the final step if every slice is done.
        A part that `waits` (the coordinator) stays until then, heartbeating the job, and takes over a
        slice whose part went silent. `log` and `counters` become the run's whole when it ends here."""
        try:
            while True:
                with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="part") as pool:
                    for _ in range(self.concurrency):
                        pool.submit(self._slices_run, plan)
                if self.failure is not None:
                    raise self.failure
                if self._final_step_taken():
                    break
                if not waits or not self._others_awaited():
                    raise SlicesHandedOver(str(self.lease.job.pk))
            self._whole_into(log, counters)
            if plan.finish is not None:
                whole = dict(_integration_checkpoint(self.integration.pk))
                writes = JobWrites(self.lease, self.integration, counters, log)
                pull_items_write(plan.finish(whole), self.integration, writes, log, counters)
        except (SlicesHandedOver, LeaseLost):
            raise
        except BaseException:
            self._whole_into(log, counters)  # the job fails with every part's figures and lines
            raise

    def _others_awaited(self) -> bool:
        """Wait while other parts run the last slices: True once one can be claimed again or all are
        done (the final step may be this part's), False when another part took the final step."""
        rows = SyncJobSlice.objects.filter(job_id=self.lease.job.pk)
        while True:
            if rows.filter(status=SliceStatus.CLOSED).exists():
                return False
            if not rows.filter(status__in=(SliceStatus.PENDING, SliceStatus.RUNNING)).exists():
                return True
            if self.share.claimable(self.lease.job.pk):
                return True
            self._await_poll()

    def _await_poll(self) -> None:
        time.sleep(AWAIT_POLL_SECONDS)
        if self.lease.is_lost():
            raise LeaseLost(str(self.lease.job.pk))
        self.lease.heartbeat()

    def _slices_run(self, plan: SlicePlan) -> None:
        """In a thread of the part: claim a slice, run it, and again, until none is left or one failed.
        While another part's share waits for it to arrive, the thread waits too (see SliceShare)."""
        try:
            while not self.stopped.is_set():
                row = slice_claim(self.lease, self.share)
                if row is None:
                    if not self.share.waiting_for_others(self.lease.job.pk):
                        return
                    self._await_poll()
                    continue
                try:
                    self._slice_run(plan, row)
                except SliceLost:
                    logger.warning("Sync job %s: slice %r was taken over by another part.", self.lease.job.pk, row.name)
        except BaseException as exc:  # the part's thread decides what it means
            if self.failure is None:
                self.failure = exc
            self.stopped.set()
        finally:
            connections.close_all()  # this thread's own connection

    def _slice_run(self, plan: SlicePlan, row: SyncJobSlice) -> None:
        counters = Counters.resumed_from(row.progress, row.checkpoint_progress)
        log = JobLog(list(row.log or []))
        writes = SliceWrites(self, row, counters, log)
        if row.name in plan.slices:
            state = slice_state(
                _integration_checkpoint(self.integration.pk).get(self.connector.slices_key) or {}, row.name
            )
            # Prepared (records, and cursors copied) as in one worker, then turned into slice cursors.
            items = self._until_stopped(records_prepared(plan.pull_slice(row.name, state)))
        else:  # gone upstream since the coordinator's plan: nothing of it to pull now
            items = iter(())
        with while_waiting(writes.heartbeat), cancel_checked(self._cancelled):
            pull_items_write(prefetched(items), self.integration, writes, log, counters)
        writes.done()

    def _until_stopped(
        self, items: Iterator[PullItem | PreparedRecord]
    ) -> Iterator[PullItem | PreparedRecord | SliceCheckpoint]:
        """The slice's items until the part stops or loses the lease (seen within LOST_CHECK_INTERVAL, so
        a cancelled slice asks for no more pages; the batch's fence already refuses its writes). Its
        cursor waits for the next batch, as in one worker: saving it at each page would halve the batches."""
        try:
            for item in items:
                if self._cancelled():
                    return
                yield SliceCheckpoint(item.state) if isinstance(item, Checkpoint) else item
        finally:
            items.close()

    def _cancelled(self) -> bool:
        return self.stopped.is_set() or self.lease.is_lost()

    def job_progress_save(self, *, force: bool = False) -> None:
        """The run's figures on the job's row (its heartbeat too), at most every PROGRESS_INTERVAL."""
        with self.progress_lock:
            if not force and time.monotonic() - self.last_progress < PROGRESS_INTERVAL:
                return
            self.last_progress = time.monotonic()
        self.lease.write(progress=spread_counters(self.lease.job.pk).progress())

    def _final_step_taken(self) -> bool:
        """Is every slice done? Then this part closes them and takes the final step; the job's row lock
        makes two parts that end at once decide one after the other."""
        with transaction.atomic():
            self.lease.hold()
            rows = SyncJobSlice.objects.filter(job_id=self.lease.job.pk)
            if rows.exclude(status=SliceStatus.DONE).exists():
                return False
            return bool(rows.update(status=SliceStatus.CLOSED))

    def _whole_into(self, log: JobLog, counters: Counters) -> None:
        _counters_set(counters, spread_counters(self.lease.job.pk))
        job_log = SyncJob.objects.filter(pk=self.lease.job.pk).values_list("log", flat=True).first() or []
        merged = JobLog(list(job_log))
        _log_extend(merged, SyncJobSlice.objects.filter(job_id=self.lease.job.pk))
        log.lines, log.dropped = merged.lines, merged.dropped


class SliceWrites(JobWrites):
    """Where one slice's batches go: entries under the job's token (shared with the other slices) and
    the slice's own claim; its figures on its row, its cursor merged into the integration's checkpoint."""

    def __init__(self, part: Part, row: SyncJobSlice, counters: Counters, log: JobLog) -> None:
        super().__init__(part.lease, part.integration, counters, log)
        self.part, self.row = part, row
        self.last_beat = time.monotonic()

    def _mine(self):
        return SyncJobSlice.objects.filter(pk=self.row.pk, claims=self.row.claims, status=SliceStatus.RUNNING)

    def _write(self, **columns: Any) -> None:
        if not self._mine().update(**columns, heartbeat_at=timezone.now()):
            raise SliceLost(self.row.name)
        self.last_beat = time.monotonic()

    def fence(self) -> None:
        job_hold_shared(self.lease)
        if not list(self._mine().select_for_update().values_list("pk", flat=True)):
            raise SliceLost(self.row.name)

    def progress_save(self) -> None:
        self._write(progress=self.counters.figures(), log=self.log.as_json())

    def batch_written(self) -> None:
        self.part.job_progress_save()

    def checkpoint_save(self, state: dict[str, Any]) -> None:
        """In the batch's transaction, after its fence and writes."""
        with transaction.atomic(savepoint=False):
            slice_checkpoint_merge(self.integration.pk, self.part.connector.slices_key, self.row.name, state)
            figures = self.counters.figures()
            self._write(progress=figures, checkpoint_progress=figures, log=self.log.as_json())

    def heartbeat(self) -> None:
        if time.monotonic() - self.last_beat >= HEARTBEAT_INTERVAL:
            self._write()
            self.lease.heartbeat(force=True)

    def done(self) -> None:
        figures = self.counters.figures()
        self._write(status=SliceStatus.DONE, completed_at=timezone.now(), progress=figures, log=self.log.as_json())
        self.part.job_progress_save(force=True)


def job_hold_shared(lease: Lease) -> None:
    """Like Lease.hold, but FOR SHARE on PostgreSQL: the slices' batches fence the job side by side,
    while the reaper's or a cancel's UPDATE of the token waits for them (SQLite's IMMEDIATE
    transactions lock the whole database instead)."""
    sql, params = lease.owned().values_list("pk").query.sql_with_params()
    if connection.vendor == "postgresql":
        sql += " FOR SHARE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.fetchone() is None:
            raise LeaseLost(str(lease.job.pk))


class SliceShare:
    """Which slices a part claims, in which order. Part k of n takes its own share first: the k-th of n
    runs of the slices in plan order, so the parts that arrive a moment after the coordinator still
    find theirs (else its threads would claim every short slice before they start). Another part's
    share may be claimed once STEAL_AFTER_SECONDS passed since the spread began (that part may never
    come: its worker busy), and a slice whose part went silent (its heartbeat older than the timeout)
    at any time."""

    def __init__(self, number: int | None, *, parts: int, started: float) -> None:
        self.number, self.parts, self.started = number, max(1, parts), started

    def owner(self, index: int, count: int) -> int:
        return index * self.parts // max(1, count)

    def _stealing(self) -> bool:
        return self.number is None or time.time() - self.started >= STEAL_AFTER_SECONDS

    def candidates(self, job_id: Any) -> list[SyncJobSlice]:
        """The slices this part may claim now, its own share first."""
        stale = timezone.now() - heartbeat_timeout()
        rows = list(SyncJobSlice.objects.filter(job_id=job_id).order_by("id"))
        own, others = [], []
        for index, row in enumerate(rows):
            silent = row.status == SliceStatus.RUNNING and row.heartbeat_at is not None and row.heartbeat_at < stale
            if row.status != SliceStatus.PENDING and not silent:
                continue
            if self.owner(index, len(rows)) == self.number:
                own.append(row)
            elif silent or self._stealing():
                others.append(row)
        return own + others

    def claimable(self, job_id: Any) -> bool:
        return bool(self.candidates(job_id))

    def waiting_for_others(self, job_id: Any) -> bool:
        """Are slices of other shares pending, not yet this part's to take?"""
        if self._stealing():
            return False
        return SyncJobSlice.objects.filter(job_id=job_id, status=SliceStatus.PENDING).exists()


def slice_claim(lease: Lease, share: SliceShare) -> SyncJobSlice | None:
    """The next slice this part may take (SliceShare). The claim is conditional on the count of
    claims, so two parts that go for one slice at once get it once; the job must still be this lease's."""
    while True:
        if lease.is_lost():
            raise LeaseLost(str(lease.job.pk))
        for row in share.candidates(lease.job.pk):
            claimed = SyncJobSlice.objects.filter(pk=row.pk, claims=row.claims, status=row.status)
            now = timezone.now()
            if claimed.update(
                status=SliceStatus.RUNNING, claims=row.claims + 1, worker=worker_name(), heartbeat_at=now
            ):
                row.status, row.claims, row.heartbeat_at = SliceStatus.RUNNING, row.claims + 1, now
                return row
        if not share.claimable(lease.job.pk):
            return None


def slice_checkpoint_merge(integration_id: Any, slices_key: str, name: str, state: dict[str, Any]) -> None:
    """Set one slice's state in the integration's checkpoint, the row locked: other parts merge theirs."""
    with transaction.atomic():
        row = Integration.objects.select_for_update().only("sync_checkpoint").get(pk=integration_id)
        checkpoint = dict(row.sync_checkpoint or {})
        states = checkpoint.get(slices_key)
        checkpoint[slices_key] = {**(states if isinstance(states, dict) else {}), name: state}
        integration_state_set(integration_id=integration_id, sync_checkpoint=checkpoint)


def spread_counters(job_id: Any) -> Counters:
    """The run's figures: what it started from plus every slice's."""
    spread = SyncJob.objects.filter(pk=job_id).values_list("spread", flat=True).first() or {}
    rows = SyncJobSlice.objects.filter(job_id=job_id).values_list("progress", flat=True)
    return Counters.from_figures(_figures_sum([_figures(spread.get("base") or {}), *rows]), "pull")


def _integration_checkpoint(integration_id: Any) -> dict[str, Any]:
    return Integration.objects.filter(pk=integration_id).values_list("sync_checkpoint", flat=True).first() or {}


def _figures(figures: dict[str, Any]) -> dict[str, Any]:
    return {key: figures.get(key) for key in (*FIGURE_KEYS, "records_found")}


def _figures_sum(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Summed figures; records_found is known when any part knows its own."""
    summed: dict[str, Any] = {key: sum(part.get(key) or 0 for part in parts) for key in FIGURE_KEYS}
    found = [part.get("records_found") for part in parts if part.get("records_found") is not None]
    summed["records_found"] = sum(found) if found else None
    return summed


def _log_extend(log: JobLog, rows: Any) -> None:
    """The slices' lines after the log's own, each once (the log of a retried run has some already)."""
    for row in rows:
        for line in row.log or []:
            if line in log.lines:
                continue
            if len(log.lines) >= LOG_MAX_LINES:
                log.dropped += 1
            else:
                log.lines.append(line)


def _counters_set(target: Counters, source: Counters) -> None:
    for name in _COUNTED:
        setattr(target, name, getattr(source, name))
