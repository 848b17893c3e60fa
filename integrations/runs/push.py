"""The push loop: offer a destination the entries that are due, batch by batch, and keep its ledger.

An entry of the destination's sources is due when the ledger (one PushLedgerEntry per destination and
entry) has no accepted copy of its current content hash, or when it was tombstoned after the
destination accepted it. So a failed entry stays due and an unchanged one is never offered twice; no
clock is compared. The destination's own entries are never offered to it (no echo).

Entries are read in id order by keyset, a batch at a time; after each batch its answers are written to
the ledger and the position to `push_checkpoint`, in one transaction under the job's lease, so a
resumed job goes on after the last batch it finished.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from connectors.base import EntrySnapshot, PushAccepted, PushFailed, Warning
from connectors.capabilities import PushDestination
from connectors.errors import UpstreamError
from integrations.models import Integration, KnowledgeEntry, PushLedgerEntry
from integrations.runs.jobs import Counters, JobLog, Lease, job_progress_save
from integrations.runs.state import integration_state_set
from integrations.sources import destination_source_ids

logger = logging.getLogger(__name__)

MAX_BATCH_SIZE = 1000
NO_ANSWER = "The destination gave no answer for this entry."
SNAPSHOT_FIELDS = (
    "id",
    "integration_id",
    "external_id",
    "title",
    "content",
    "html",
    "url",
    "author",
    "language",
    "metadata",
    "updated_at",
    "content_hash",
    "deleted_at",
)


def entries_in_scope(destination: Integration, source_ids: Sequence[Any] | None = None) -> QuerySet[KnowledgeEntry]:
    """The entries of the destination's sources (never its own); `source_ids` when already looked up."""
    if source_ids is None:
        source_ids = destination_source_ids(destination)
    return KnowledgeEntry.objects.filter(
        organisation_id=destination.organisation_id, integration_id__in=list(source_ids)
    ).exclude(integration_id=destination.pk)


def _accepted(destination: Integration):
    return PushLedgerEntry.objects.filter(destination=destination, entry=OuterRef("pk"), accepted_at__isnull=False)


def entries_due(destination: Integration, source_ids: Sequence[Any] | None = None) -> QuerySet[KnowledgeEntry]:
    """New or changed since last accepted (by content hash), or tombstoned since accepted."""
    accepted = _accepted(destination)
    current = accepted.filter(accepted_hash=OuterRef("content_hash"), accepted_deleted=False)
    live_copy_upstream = accepted.filter(accepted_deleted=False)
    return (
        entries_in_scope(destination, source_ids)
        .alias(has_current=Exists(current), has_live_copy=Exists(live_copy_upstream))
        .filter(Q(deleted_at__isnull=True, has_current=False) | Q(deleted_at__isnull=False, has_live_copy=True))
    )


def entries_unchanged_count(destination: Integration, source_ids: Sequence[Any] | None = None) -> int:
    """Entries in scope whose current state the destination already accepted."""
    accepted = _accepted(destination)
    same_content = accepted.filter(accepted_hash=OuterRef("content_hash"), accepted_deleted=False)
    same_tombstone = accepted.filter(accepted_deleted=True)
    return (
        entries_in_scope(destination, source_ids)
        .alias(same=Exists(same_content), gone=Exists(same_tombstone))
        .filter(Q(deleted_at__isnull=True, same=True) | Q(deleted_at__isnull=False, gone=True))
        .count()
    )


def push_run(
    lease: Lease, destination: Integration, connector: PushDestination, log: JobLog, counters: Counters
) -> None:
    """Offer every due entry once, in batches of the connector's size; see the module's docstring.

    Counters, for a push: found = offered (due when the run began), synced = sent, imported =
    accepted, created = created remotely, skipped = unchanged, failed = refused or not answered."""
    # The sources are read once per attempt: one deleted meanwhile is left out from the next run on.
    source_ids = destination_source_ids(destination)
    position = push_position_resumed(lease, destination, source_ids, counters, log)
    after = position.get("after")
    batch_size = max(1, min(int(connector.push_batch_size()), MAX_BATCH_SIZE))
    while batch := _next_batch(destination, source_ids, after, batch_size):
        answers = _batch_push(connector, batch, log)
        after = batch[-1].id
        with transaction.atomic():
            lease.hold()
            _ledger_write(destination, batch, answers, log, counters)
            position = {**position, "after": after, "figures": counters.figures()}
            job_progress_save(lease, counters, log)
            integration_state_set(integration_id=destination.pk, push_checkpoint=position)
        lease.heartbeat()
    if counters.synced:
        for warning in connector.push_finish(accepted=counters.imported):
            log.add("warning", warning.message)
    with transaction.atomic():
        lease.hold()
        integration_state_set(integration_id=destination.pk, push_checkpoint={"last_job_id": str(lease.job.pk)})


def push_position_saved(lease: Lease, destination: Integration) -> dict[str, Any] | None:
    """This job's saved push position, when an earlier attempt of it got as far as pushing."""
    saved = Integration.objects.filter(pk=destination.pk).values_list("push_checkpoint", flat=True).first() or {}
    return saved if saved.get("job_id") == str(lease.job.pk) else None


def push_position_resumed(
    lease: Lease, destination: Integration, source_ids: Sequence[Any], counters: Counters, log: JobLog
) -> dict[str, Any]:
    """Where this job's push stands: its own saved position (a resumed job, whose figures go on), or the
    start, where what is due and what is unchanged are counted once."""
    if (saved := push_position_saved(lease, destination)) is not None:
        restored = Counters.from_figures(saved.get("figures") or {}, counters.direction)
        counters.synced, counters.imported, counters.created = restored.synced, restored.imported, restored.created
        counters.failed, counters.found, counters.skipped = restored.failed, saved.get("offered"), restored.skipped
        return saved
    counters.found = entries_due(destination, source_ids).count()
    counters.skipped = entries_unchanged_count(destination, source_ids)
    position = {
        "job_id": str(lease.job.pk),
        "after": None,
        "offered": counters.found,
        "figures": counters.figures(),
        "earlier": {name: part.figures() for name, part in counters.earlier.items()},
    }
    with transaction.atomic():
        lease.hold()
        integration_state_set(integration_id=destination.pk, push_checkpoint=position)
        job_progress_save(lease, counters, log)
    return position


def _next_batch(destination: Integration, source_ids: Sequence[Any], after: Any, size: int) -> list[EntrySnapshot]:
    due = entries_due(destination, source_ids)
    if after is not None:
        due = due.filter(pk__gt=after)
    rows = list(due.order_by("pk").values(*SNAPSHOT_FIELDS)[:size])
    remote_ids = dict(
        PushLedgerEntry.objects.filter(destination=destination, entry_id__in=[row["id"] for row in rows])
        .exclude(remote_id="")
        .values_list("entry_id", "remote_id")
    )
    return [_snapshot(row, remote_ids.get(row["id"])) for row in rows]


def _snapshot(row: dict[str, Any], remote_id: str | None) -> EntrySnapshot:
    return EntrySnapshot(
        id=str(row["id"]),
        integration_id=str(row["integration_id"]),
        external_id=row["external_id"],
        title=row["title"],
        content=row["content"],
        html=row["html"],
        url=row["url"],
        author=row["author"],
        language=row["language"],
        metadata=row["metadata"],
        updated_at=row["updated_at"],
        content_hash=row["content_hash"],
        deleted=row["deleted_at"] is not None,
        remote_id=remote_id,
    )


def _batch_push(
    connector: PushDestination, batch: Sequence[EntrySnapshot], log: JobLog
) -> dict[str, PushAccepted | PushFailed]:
    """The destination's answer per entry id. A refused batch (an upstream error that is not worth a
    retry of the job) fails its entries, which stay due; a retryable one ends the attempt, to be resumed."""
    offered = {entry.id for entry in batch}
    answers: dict[str, PushAccepted | PushFailed] = {}
    try:
        for item in connector.push_batch(batch):
            if isinstance(item, Warning):
                log.add("warning", item.message)
            elif item.entry_id in offered:
                answers[item.entry_id] = item
            else:
                log.add("warning", f"The destination answered for an entry it was not offered: {item.entry_id[:80]}.")
    except UpstreamError as exc:
        if exc.retryable:
            raise
        log.add("error", f"A batch of {len(batch)} entries was refused: {exc.message}")
        return {entry.id: PushFailed(entry_id=entry.id, reason=exc.message) for entry in batch}
    return answers


def _ledger_write(
    destination: Integration,
    batch: Sequence[EntrySnapshot],
    answers: dict[str, PushAccepted | PushFailed],
    log: JobLog,
    counters: Counters,
) -> None:
    now = timezone.now()
    existing = {
        str(row.entry_id): row
        for row in PushLedgerEntry.objects.filter(destination=destination, entry_id__in=[e.id for e in batch])
    }
    rows = []
    for entry in batch:
        answer = answers.get(entry.id) or PushFailed(entry_id=entry.id, reason=NO_ANSWER)
        row = existing.get(entry.id) or PushLedgerEntry(destination=destination, entry_id=entry.id)
        row.attempts += 1
        counters.synced += 1
        if isinstance(answer, PushAccepted):
            counters.imported += 1
            counters.created += int(answer.created)
            row.accepted_hash, row.accepted_deleted, row.accepted_at = entry.content_hash, entry.deleted, now
            row.remote_id, row.last_error, row.attempts = str(answer.remote_id)[:512], "", 0
        else:
            counters.failed += 1
            row.last_error = answer.reason[:2000]
            log.add("error", answer.reason, external_id=entry.external_id)
        row.updated_at = now
        rows.append(row)
    PushLedgerEntry.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["destination", "entry"],
        update_fields=[
            "accepted_hash",
            "accepted_deleted",
            "accepted_at",
            "remote_id",
            "attempts",
            "last_error",
            "updated_at",
        ],
    )


def remote_ids_written_by(destination: Integration, external_ids: Sequence[str]) -> set[str]:
    """Of these upstream ids, those this hub's push created (a two-way connector must not pull them back)."""
    return set(
        PushLedgerEntry.objects.filter(destination=destination, remote_id__in=list(external_ids)).values_list(
            "remote_id", flat=True
        )
    )
