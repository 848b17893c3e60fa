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
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, FilteredRelation, Q, QuerySet
from django.utils import timezone

from connectors.base import (
    EntrySnapshot,
    FileSnapshot,
    PreviewItem,
    PreviewResult,
    PushAccepted,
    PushFailed,
    PushSkipped,
    Warning,
)
from connectors.capabilities import PushDestination
from connectors.errors import UpstreamError
from integrations.knowledge.files import entry_file_snapshots
from integrations.models import EntryFile, Integration, KnowledgeEntry, PushLedgerEntry
from integrations.runs.jobs import Counters, JobLog, Lease, job_progress_save
from integrations.runs.state import integration_state_set
from integrations.sources import destination_source_ids

logger = logging.getLogger(__name__)

# A guard against absurd sizes only: the connector chooses (LeanIX's run_size goes up to 50,000).
MAX_BATCH_SIZE = 50_000
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


def _with_ledger(destination: Integration, source_ids: Sequence[Any] | None) -> QuerySet[KnowledgeEntry]:
    """The entries in scope, each joined (LEFT JOIN) to its ledger row for this destination, if any."""
    return _with_ledger_of(destination, entries_in_scope(destination, source_ids))


def _with_ledger_of(destination: Integration, entries: QuerySet[KnowledgeEntry]) -> QuerySet[KnowledgeEntry]:
    return entries.annotate(ledger=FilteredRelation("push_ledger", condition=Q(push_ledger__destination=destination)))


# Due: a live entry the destination has not accepted as it is now (never, another hash, or as a
# tombstone), or a tombstone of an entry it accepted alive. Written without negation, so the join stays
# one LEFT JOIN the database can hash (a negated multi-valued lookup would become a subquery per row).
DUE = Q(deleted_at__isnull=True) & (
    Q(ledger__accepted_at__isnull=True)
    | Q(ledger__accepted_deleted=True)
    | Q(ledger__accepted_hash__lt=F("content_hash"))
    | Q(ledger__accepted_hash__gt=F("content_hash"))
) | Q(deleted_at__isnull=False, ledger__accepted_at__isnull=False, ledger__accepted_deleted=False)
UNCHANGED = Q(
    deleted_at__isnull=True,
    ledger__accepted_at__isnull=False,
    ledger__accepted_deleted=False,
    ledger__accepted_hash=F("content_hash"),
) | Q(deleted_at__isnull=False, ledger__accepted_at__isnull=False, ledger__accepted_deleted=True)


def entries_due(destination: Integration, source_ids: Sequence[Any] | None = None) -> QuerySet[KnowledgeEntry]:
    """New or changed since last accepted (by content hash), or tombstoned since accepted."""
    return _with_ledger(destination, source_ids).filter(DUE)


def entries_unchanged_count(destination: Integration, source_ids: Sequence[Any] | None = None) -> int:
    """Entries in scope whose current state the destination already accepted."""
    return _with_ledger(destination, source_ids).filter(UNCHANGED).count()


def due_ids(destination: Integration, source_ids: Sequence[Any], after: Any = None) -> list[Any]:
    """The ids of the due entries (after `after`), in id order: read once per attempt, in one pass.

    A run offers what was due when it began; an entry written meanwhile is due for the next run.
    Ordered here rather than by the database, so it can hash the join instead of probing per row."""
    due = entries_due(destination, source_ids).order_by()
    if after is not None:
        due = due.filter(pk__gt=after)
    return sorted(due.values_list("pk", flat=True))


def push_run(
    lease: Lease, destination: Integration, connector: PushDestination, log: JobLog, counters: Counters
) -> None:
    """Offer every due entry once, in batches of the connector's size; see the module's docstring.

    Counters, for a push: found = offered (due when the run began), synced = sent, imported =
    accepted, created = created remotely, skipped = unchanged, failed = refused or not answered."""
    if not connector.push_enabled():
        return  # a two-way connector whose config sends nothing: no entry is offered, the ledger stays
    # The sources are read once per attempt: one deleted meanwhile is left out from the next run on.
    source_ids = destination_source_ids(destination)
    position, due = push_position_resumed(lease, destination, source_ids, counters, log)
    batch_size = max(1, min(int(connector.push_batch_size()), MAX_BATCH_SIZE))
    # Files are looked up per batch only where the organisation has any (one query per run otherwise).
    with_files = EntryFile.objects.filter(entry__organisation_id=destination.organisation_id).exists()
    for start in range(0, len(due), batch_size):
        batch, ledger = _batch_read(destination, due[start : start + batch_size], with_files=with_files)
        if not batch:
            continue
        answers = _batch_push(connector, batch, log)
        _answers_count(batch, answers, log, counters)
        position = {**position, "after": batch[-1].id, "figures": counters.figures()}
        with transaction.atomic():
            # The conditional progress write comes first: it fences (and locks) the job as lease.hold() would.
            job_progress_save(lease, counters, log)
            _ledger_write(batch, ledger, answers)
            integration_state_set(integration_id=destination.pk, push_checkpoint=position)
        lease.heartbeat()
    if counters.synced:
        for warning in connector.push_finish(accepted=counters.imported):
            log.add("warning", warning.message)
    with transaction.atomic():
        lease.hold()
        integration_state_set(integration_id=destination.pk, push_checkpoint={"last_job_id": str(lease.job.pk)})
    if counters.failed and connector.push_failures_fail_the_run():
        raise PushRunFailed(_failures_message(destination, lease))


class PushRunFailed(Exception):
    """The run went through every batch, and the connector fails a run in which entries failed."""


FAILURES_NAMED = 20


def _failures_message(destination: Integration, lease: Lease) -> str:
    """'N entries failed: <external id>: <reason>; …', from the ledger rows this job left failed."""
    failed = (
        PushLedgerEntry.objects.filter(destination=destination, updated_at__gte=lease.job.started_at)
        .exclude(last_error="")
        .select_related("entry")
        .order_by("entry__external_id")
    )
    total = failed.count()
    named = "; ".join(f"{row.entry.external_id}: {row.last_error}" for row in failed[:FAILURES_NAMED])
    more = f"; and {total - FAILURES_NAMED} more" if total > FAILURES_NAMED else ""
    return f"{total} entries failed: {named}{more}."


def push_position_saved(lease: Lease, destination: Integration) -> dict[str, Any] | None:
    """This job's saved push position, when an earlier attempt of it got as far as pushing."""
    saved = Integration.objects.filter(pk=destination.pk).values_list("push_checkpoint", flat=True).first() or {}
    return saved if saved.get("job_id") == str(lease.job.pk) else None


def push_position_resumed(
    lease: Lease, destination: Integration, source_ids: Sequence[Any], counters: Counters, log: JobLog
) -> tuple[dict[str, Any], list[Any]]:
    """Where this job's push stands, and the ids still to offer: its own saved position (a resumed job,
    whose figures go on after the last batch it finished), or the start, where what is due and what is
    unchanged are counted once."""
    if (saved := push_position_saved(lease, destination)) is not None:
        restored = Counters.from_figures(saved.get("figures") or {}, counters.direction)
        counters.synced, counters.imported, counters.created = restored.synced, restored.imported, restored.created
        counters.failed, counters.found, counters.skipped = restored.failed, saved.get("offered"), restored.skipped
        return saved, due_ids(destination, source_ids, after=_uuid_or_none(saved.get("after")))
    due = due_ids(destination, source_ids)
    counters.found = len(due)
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
    return position, due


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


LEDGER_FIELDS = ("accepted_hash", "accepted_deleted", "accepted_at", "remote_id", "attempts", "last_error")


def _batch_read(
    destination: Integration, ids: Sequence[Any], *, with_files: bool
) -> tuple[list[EntrySnapshot], dict[str, PushLedgerEntry]]:
    """The entries of `ids` as they are now, and their ledger rows as they stand (new ones unsaved), in
    one query: the remote id the destination gave each goes into its snapshot."""
    rows = list(
        _with_ledger_of(destination, KnowledgeEntry.objects.filter(pk__in=ids))
        .order_by("pk")
        .values(*SNAPSHOT_FIELDS, *(f"ledger__{name}" for name in LEDGER_FIELDS))
    )
    files = entry_file_snapshots(ids) if with_files else {}
    ledger = {str(row["id"]): _ledger_row(destination, row) for row in rows}
    sources = _sources_named({row["integration_id"] for row in rows})
    snapshots = [
        _snapshot(row, ledger[str(row["id"])].remote_id or None, files.get(str(row["id"]), ()),
                  sources.get(row["integration_id"], ("", "")))
        for row in rows
    ]  # fmt: skip
    return snapshots, ledger


def _sources_named(source_ids: set[Any]) -> dict[Any, tuple[str, str]]:
    """(name, connector type) of each source of a batch, for destinations that say where an entry came from."""
    rows = Integration.objects.filter(pk__in=source_ids).values_list("pk", "name", "type")
    return {pk: (name, kind) for pk, name, kind in rows}


def _ledger_row(destination: Integration, row: dict[str, Any]) -> PushLedgerEntry:
    return PushLedgerEntry(
        destination=destination,
        entry_id=row["id"],
        accepted_hash=row["ledger__accepted_hash"] or "",
        accepted_deleted=bool(row["ledger__accepted_deleted"]),
        accepted_at=row["ledger__accepted_at"],
        remote_id=row["ledger__remote_id"] or "",
        attempts=row["ledger__attempts"] or 0,
        last_error=row["ledger__last_error"] or "",
    )


def _snapshot(
    row: dict[str, Any],
    remote_id: str | None,
    files: tuple[FileSnapshot, ...] = (),
    source: tuple[str, str] = ("", ""),
) -> EntrySnapshot:
    return EntrySnapshot(
        source_name=source[0],
        source_type=source[1],
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
        files=files,
    )


def _batch_push(
    connector: PushDestination, batch: Sequence[EntrySnapshot], log: JobLog
) -> dict[str, PushAccepted | PushFailed | PushSkipped]:
    """The destination's answer per entry id. A refused batch (an upstream error that is not worth a
    retry of the job) fails its entries, which stay due; a retryable one ends the attempt, to be resumed."""
    offered = {entry.id for entry in batch}
    answers: dict[str, PushAccepted | PushFailed | PushSkipped] = {}
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


def _answers_count(
    batch: Sequence[EntrySnapshot],
    answers: dict[str, PushAccepted | PushFailed | PushSkipped],
    log: JobLog,
    counters: Counters,
) -> None:
    for entry in batch:
        answer = answers.get(entry.id) or PushFailed(entry_id=entry.id, reason=NO_ANSWER)
        counters.synced += 1
        if isinstance(answer, PushSkipped):
            counters.skipped += 1
            log.add("info", f"Skipped: {answer.reason}", external_id=entry.external_id)
        elif isinstance(answer, PushAccepted):
            counters.imported += 1
            counters.created += int(answer.created)
        else:
            counters.failed += 1
            log.add("error", answer.reason, external_id=entry.external_id)


LEDGER_WRITTEN = (
    "accepted_hash",
    "accepted_deleted",
    "accepted_at",
    "remote_id",
    "attempts",
    "last_error",
    "updated_at",
)


def _ledger_write(
    batch: Sequence[EntrySnapshot],
    ledger: dict[str, PushLedgerEntry],
    answers: dict[str, PushAccepted | PushFailed | PushSkipped],
) -> None:
    """The batch's answers into its ledger rows (read with the batch), written in one upsert."""
    now = timezone.now()
    rows = []
    for entry in batch:
        answer = answers.get(entry.id) or PushFailed(entry_id=entry.id, reason=NO_ANSWER)
        row = ledger[entry.id]
        if isinstance(answer, PushFailed):
            row.attempts += 1
            row.last_error = answer.reason[:2000]
        else:
            # Taken as it is (a skipped entry: with no remote object): offered again only once it changes.
            row.accepted_hash, row.accepted_deleted, row.accepted_at = entry.content_hash, entry.deleted, now
            row.last_error, row.attempts = "", 0
            if isinstance(answer, PushAccepted):
                row.remote_id = str(answer.remote_id)[:512]
        row.updated_at = now
        rows.append(row)
    ledger_rows_upsert(rows)


def ledger_rows_upsert(rows: Sequence[PushLedgerEntry]) -> None:
    """INSERT … ON CONFLICT (destination, entry) DO UPDATE of these rows; the columns and their database
    values come from the model. On PostgreSQL the rows travel as one array per column (a fixed number
    of parameters: a statement of thousands would cost more to bind than to run); elsewhere as
    multi-row VALUES."""
    if not rows:
        return
    meta = PushLedgerEntry._meta
    fields = [meta.get_field(name) for name in ("destination", "entry", *LEDGER_WRITTEN)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    updates = ", ".join(f"{quote(f.column)} = excluded.{quote(f.column)}" for f in fields[2:])
    upsert = f"INSERT INTO {quote(meta.db_table)} ({columns}) %s ON CONFLICT ({quote(fields[0].column)}, "
    upsert += f"{quote(fields[1].column)}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
            params = [
                [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows] for field in fields
            ]
            cursor.execute(upsert % f"SELECT * FROM unnest({arrays})", params)
            return
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        per_statement = (connection.features.max_query_params or 999) // len(fields)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                field.get_db_prep_save(getattr(row, field.attname), connection) for row in chunk for field in fields
            ]
            cursor.execute(upsert % f"VALUES {', '.join([placeholders] * len(chunk))}", params)


def remote_ids_written_by(destination: Integration, external_ids: Sequence[str]) -> set[str]:
    """Of these upstream ids, those this hub's push created (a two-way connector must not pull them back)."""
    return set(
        PushLedgerEntry.objects.filter(destination=destination, remote_id__in=list(external_ids)).values_list(
            "remote_id", flat=True
        )
    )


def push_preview(destination: Integration) -> PreviewResult:
    """What the next run of a destination would offer, per source: the due entries, counted in one query."""
    source_ids = destination_source_ids(destination)
    per_source = dict(
        entries_due(destination, source_ids).order_by().values_list("integration_id").annotate(due=Count("pk"))
    )
    names = dict(Integration.objects.filter(pk__in=list(per_source)).values_list("pk", "name"))
    items = [PreviewItem(names.get(pk, str(pk)), due) for pk, due in sorted(per_source.items(), key=lambda i: -i[1])]
    total = sum(per_source.values())
    sources = f"{len(source_ids)} source{'s' if len(source_ids) != 1 else ''}"
    return PreviewResult(summary=f"{total} entries to send from {sources}", items=items, estimated_entries=total)
