"""Writing the knowledge base: batch upserts keyed by (integration, external_id), tombstones."""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from connectors.base import Deletion, Record, RecordFailure
from integrations.knowledge_clean import RecordRefused, is_clean_text, record_cleaned
from integrations.models import Integration, KnowledgeEntry

UPSERT_FIELDS = [
    "title",
    "content",
    "html",
    "url",
    "author",
    "language",
    "metadata",
    "source_created_at",
    "source_updated_at",
    "content_hash",
    "deleted_at",
    "updated_at",
]


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Records the write rule refused (integrations.knowledge_clean): nothing of them was written.
    refused: list[RecordFailure] = field(default_factory=list)


def content_hash(record: Record) -> str:
    """Hash of everything an entry shows, so unchanged records are not rewritten."""
    material = [
        record.title,
        record.content,
        record.html,
        record.url,
        record.author,
        record.language,
        record.metadata,
        record.source_created_at.isoformat() if record.source_created_at else None,
        record.source_updated_at.isoformat() if record.source_updated_at else None,
    ]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def entries_upsert(*, integration: Integration, records: Sequence[Record]) -> UpsertResult:
    """Upsert one batch; a record seen twice in the batch counts once (the last wins).

    Each record is cleaned first (integrations.knowledge_clean); the ones refused are returned in
    `refused` and the rest are written.

    On PostgreSQL: COPY into a staging table and one INSERT ... ON CONFLICT merge (the sync's hot
    path); elsewhere the portable ORM path. Both give the same rows and the same counts.
    """
    by_id: dict[str, Record] = {}
    refused: list[RecordFailure] = []
    for record in records:
        try:
            cleaned = record_cleaned(record)
        except RecordRefused as exc:
            refused.append(RecordFailure(external_id=exc.external_id, reason=exc.message))
            continue
        by_id[cleaned.external_id] = cleaned
    if not by_id:
        return UpsertResult(refused=refused)
    if connection.vendor == "postgresql":
        from integrations.knowledge_copy import entries_upsert_copy

        result = entries_upsert_copy(integration=integration, records=list(by_id.values()))
    else:
        result = _entries_upsert_orm(integration=integration, by_id=by_id)
    result.refused = refused
    return result


def _entries_upsert_orm(*, integration: Integration, by_id: dict[str, Record]) -> UpsertResult:
    existing = dict(
        KnowledgeEntry.objects.filter(integration=integration, external_id__in=list(by_id)).values_list(
            "external_id", "content_hash"
        )
    )
    # A tombstone that comes back to life must be rewritten even if its content is the same.
    revived = set(
        KnowledgeEntry.objects.filter(
            integration=integration, external_id__in=list(existing), deleted_at__isnull=False
        ).values_list("external_id", flat=True)
    )
    result = UpsertResult()
    now = timezone.now()
    rows = []
    for external_id, record in by_id.items():
        digest = content_hash(record)
        if existing.get(external_id) == digest and external_id not in revived:
            result.unchanged += 1
            continue
        if external_id in existing:
            result.updated += 1
        else:
            result.created += 1
        rows.append(_entry_row(integration, record, digest, now))
    if rows:
        KnowledgeEntry.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["integration", "external_id"],
            update_fields=UPSERT_FIELDS,
        )
    return result


def entries_tombstone(*, integration: Integration, deletions: Sequence[Deletion]) -> int:
    """Mark entries deleted upstream; the rows stay, with `deleted_at` set."""
    now = timezone.now()
    by_time: dict = defaultdict(list)
    for deletion in deletions:
        if not isinstance(deletion.external_id, str) or not is_clean_text(deletion.external_id):
            continue  # no entry can have such an id (record_cleaned refuses it), and the query would fail
        by_time[deletion.deleted_at or now].append(deletion.external_id)
    count = 0
    for deleted_at, external_ids in by_time.items():
        count += KnowledgeEntry.objects.filter(
            integration=integration, external_id__in=external_ids, deleted_at__isnull=True
        ).update(deleted_at=deleted_at, updated_at=now)
    return count


def _entry_row(integration: Integration, record: Record, digest: str, now) -> KnowledgeEntry:
    return KnowledgeEntry(
        organisation_id=integration.organisation_id,
        integration=integration,
        external_id=record.external_id,
        # Already cleaned and cut to the columns' lengths by record_cleaned.
        title=record.title,
        content=record.content,
        html=record.html,
        url=record.url,
        author=record.author,
        language=record.language,
        metadata=record.metadata,
        source_created_at=record.source_created_at,
        source_updated_at=record.source_updated_at,
        content_hash=digest,
        deleted_at=None,
        created_at=now,
        updated_at=now,
    )


def entry_upsert_returning_id(*, integration: Integration, record: Record) -> uuid.UUID:
    """Upsert one record in a single statement and return its entry's id.

    The webhook hot path: INSERT ... ON CONFLICT DO UPDATE ... RETURNING id (PostgreSQL and
    SQLite 3.35+). An unchanged, live row is left alone, and then its id is read separately.
    """
    sql, _ = entry_upsert_returning_id_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, entry_row_params(integration, record))
        returned = cursor.fetchone()
    if returned is not None:
        return KnowledgeEntry._meta.pk.to_python(returned[0])
    return (
        KnowledgeEntry.objects.filter(integration=integration, external_id=record.external_id)
        .values_list("id", flat=True)
        .get()
    )


def entry_row_params(integration: Integration, record: Record) -> list:
    """The record as database parameters, in the column order of `entry_upsert_returning_id_sql`.

    Cleaned first (RecordRefused, a 400 where a request sent it, when it cannot be stored).
    """
    record = record_cleaned(record)
    row = _entry_row(integration, record, content_hash(record), timezone.now())
    return [f.get_db_prep_save(getattr(row, f.attname), connection) for f in KnowledgeEntry._meta.concrete_fields]


@functools.cache
def entry_upsert_returning_id_sql(vendor: str) -> tuple[str, list]:
    """The single-record upsert statement, built once per database vendor (hot path)."""
    quote = connection.ops.quote_name
    table = quote(KnowledgeEntry._meta.db_table)
    fields = list(KnowledgeEntry._meta.concrete_fields)
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    updated = (quote(KnowledgeEntry._meta.get_field(name).column) for name in UPSERT_FIELDS)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in updated)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({quote('integration_id')}, {quote('external_id')}) DO UPDATE SET {updates} "
        f"WHERE {table}.{quote('content_hash')} <> EXCLUDED.{quote('content_hash')} "
        f"OR {table}.{quote('deleted_at')} IS NOT NULL "
        f"RETURNING {quote('id')}"
    )
    return sql, fields
