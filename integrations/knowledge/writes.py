"""The one write module of knowledge entries: every producer (a sync's batches, PostgreSQL's COPY
path, the webhook's single statement) stores a record through the upsert statement built here.

Written once, here: the columns (from the model), the cleaning of a record (`clean.record_cleaned`,
which also cuts text to the model's lengths), its content hash, and the rule that decides whether
a stored row is rewritten: only when its content hash differs or it is a tombstone (a record that
comes back revives it even with the same content). An unchanged, live row is never touched.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from connectors.base import Deletion, Record, RecordFailure
from integrations.knowledge.clean import (
    METADATA_JSON,
    RecordRefused,
    is_clean_text,
    record_cleaned_with_json,
)
from integrations.models import Integration, KnowledgeEntry

ENTRY_FIELDS: tuple[models.Field, ...] = tuple(KnowledgeEntry._meta.concrete_fields)
# Set once, when the row is made; a conflict on the key never changes them.
INSERT_ONLY = ("id", "organisation", "integration", "external_id", "created_at")
UPSERT_FIELDS = [f.name for f in ENTRY_FIELDS if f.name not in INSERT_ONLY]
# The same for every row of one write: the batch's integration and time, and no tombstone.
PER_WRITE = ("organisation", "integration", "deleted_at", "created_at", "updated_at")
# What a record sets, in column order (its external id, its content and the content's hash).
RECORD_FIELDS: tuple[models.Field, ...] = tuple(f for f in ENTRY_FIELDS if f.name not in ("id", *PER_WRITE))
# What the hash covers: everything an entry shows.
HASHED_FIELDS = tuple(f.name for f in RECORD_FIELDS if f.name not in ("external_id", "content_hash"))
_HASHED_VALUES = operator.attrgetter(*HASHED_FIELDS)
_METADATA_HASHED_AT = HASHED_FIELDS.index("metadata")
# json's own C encoder of a string, the one json.dumps uses with its default ensure_ascii.
_json_string = json.encoder.encode_basestring_ascii


class PreparedEntry(NamedTuple):
    """A record as it is written: cleaned (`clean.record_cleaned_with_json`), its metadata as
    METADATA_JSON text and its content hash. Prepared apart from the write, so that a sync's slices
    can prepare their records in their own threads while the run's thread writes (integrations.runs)."""

    record: Record
    metadata_json: str
    content_hash: str


def entry_prepared(record: Record) -> PreparedEntry:
    """`record` prepared for the write path, or RecordRefused (the write rule, integrations.knowledge.clean)."""
    cleaned, metadata_json = record_cleaned_with_json(record)
    return PreparedEntry(cleaned, metadata_json, content_hash(cleaned, metadata_json))


def entry_prepared_or_refused(record: Record) -> PreparedEntry | RecordFailure:
    """`entry_prepared`, with a refusal as the record's failure (what a sync logs for it)."""
    try:
        return entry_prepared(record)
    except RecordRefused as exc:
        return RecordFailure(external_id=exc.external_id, reason=exc.message)


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Records the write rule refused (integrations.knowledge.clean): nothing of them was written.
    refused: list[RecordFailure] = field(default_factory=list)


def content_hash(record: Record, metadata_json: str | None = None) -> str:
    """Hash of everything an entry shows, so unchanged records are not rewritten.

    Stored hashes must never change: the text hashed is byte for byte `_dumped_material`'s, built
    here piece by piece at less cost. `metadata_json`: the record's metadata as
    `clean.METADATA_JSON` encoded it (`record_cleaned_with_json`), so that it is not encoded again.
    Computed once per record, by `entry_prepared`.
    """
    pieces = []
    for at, value in enumerate(_HASHED_VALUES(record)):
        if at == _METADATA_HASHED_AT:
            piece = metadata_json if metadata_json is not None else _metadata_json(value)
        elif isinstance(value, str):
            piece = _json_string(value)
        elif value is None:
            piece = "null"
        elif isinstance(value, datetime):
            piece = _json_string(value.isoformat())
        else:
            piece = None
        if piece is None:  # a value no cleaned record holds
            return hashlib.sha256(_dumped_material(record).encode()).hexdigest()
        pieces.append(piece)
    return hashlib.sha256(("[" + ", ".join(pieces) + "]").encode()).hexdigest()


def _metadata_json(value) -> str | None:
    """`value` as json.dumps(sort_keys=True) writes it, or None when only its `default=str` could."""
    try:
        return METADATA_JSON.encode(value)
    except (TypeError, ValueError):
        return None


def _dumped_material(record: Record) -> str:
    """What the content hash covers, as it has always been written (see `content_hash`)."""
    material = [value.isoformat() if isinstance(value, datetime) else value for value in _HASHED_VALUES(record)]
    return json.dumps(material, sort_keys=True, default=str)


def _quoted(name: str) -> str:
    return connection.ops.quote_name(KnowledgeEntry._meta.get_field(name).column)


def changed_or_tombstoned_sql() -> str:
    """The rule, as the condition of the upsert's DO UPDATE: the one place it is written."""
    table = connection.ops.quote_name(KnowledgeEntry._meta.db_table)
    digest, deleted = _quoted("content_hash"), _quoted("deleted_at")
    return f"{table}.{digest} <> EXCLUDED.{digest} OR {table}.{deleted} IS NOT NULL"


@functools.lru_cache(maxsize=64)
def entry_upsert_sql(vendor: str, source: str, returning: str) -> str:
    """INSERT of every entry column from `source` (VALUES or a SELECT giving them in the model's
    order), merged on (integration, external_id) by the rule; built once per vendor and source."""
    quote = connection.ops.quote_name
    table = quote(KnowledgeEntry._meta.db_table)
    columns = ", ".join(quote(f.column) for f in ENTRY_FIELDS)
    updates = ", ".join(f"{_quoted(name)} = EXCLUDED.{_quoted(name)}" for name in UPSERT_FIELDS)
    key = ", ".join(_quoted(name) for name in ("integration", "external_id"))
    return (
        f"INSERT INTO {table} ({columns}) {source} "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {changed_or_tombstoned_sql()} "
        f"RETURNING {returning}"
    )


def _values_source(rows: int) -> str:
    row = "(" + ", ".join(["%s"] * len(ENTRY_FIELDS)) + ")"
    return "VALUES " + ", ".join([row] * rows)


def entry_row_params(integration: Integration, record: Record) -> list:
    """The record as the parameters of `entry_upsert_one_sql`, in the model's column order.

    Cleaned first (RecordRefused, a 400 where a request sent it, when it cannot be stored).
    """
    return _row_builder(integration, timezone.now())(entry_prepared(record), uuid.uuid4())


RowBuilder = Callable[[PreparedEntry, uuid.UUID], list]


def _row_builder(integration: Integration, now) -> RowBuilder:
    """What turns a prepared record into one VALUES row of a write at `now`: the columns that are the
    same for the whole write are prepared once, text (cleaned already) is passed as it is, and the
    rest goes through its field's own preparation (on a batch that halves the cost of a row)."""
    fixed = {"organisation": integration.organisation_id, "integration": integration.pk, "deleted_at": None,
             "created_at": now, "updated_at": now}  # fmt: skip
    db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` costs a lookup per use
    columns: list[Callable[[Record, str, uuid.UUID], object]] = []
    for f in ENTRY_FIELDS:
        if f.name in fixed:
            prepared = f.get_db_prep_save(fixed[f.name], db)
            columns.append(lambda record, digest, entry_id, prepared=prepared: prepared)
        elif f.primary_key:
            columns.append(lambda record, digest, entry_id, f=f: f.get_db_prep_save(entry_id, db))
        elif f.name == "content_hash":
            columns.append(lambda record, digest, entry_id: digest)
        elif isinstance(f, models.CharField | models.TextField):
            columns.append(lambda record, digest, entry_id, name=f.name: getattr(record, name))
        else:
            columns.append(lambda record, digest, entry_id, f=f: f.get_db_prep_save(getattr(record, f.name), db))

    def row(prepared: PreparedEntry, entry_id: uuid.UUID) -> list:
        record, _, digest = prepared
        return [column(record, digest, entry_id) for column in columns]

    return row


def entries_upsert(*, integration: Integration, records: Sequence[Record]) -> UpsertResult:
    """Upsert one batch; a record seen twice in the batch counts once (the last wins).

    Each record is cleaned first (integrations.knowledge.clean); the ones refused are returned in
    `refused` and the rest are written. On PostgreSQL the rows go in by COPY and one merge (the
    sync's hot path, integrations.knowledge.copy); elsewhere by multi-row VALUES. Both are the same
    statement of `entry_upsert_sql` and give the same rows and counts.
    """
    return entries_upsert_prepared(integration=integration, entries=[entry_prepared_or_refused(r) for r in records])


def entries_upsert_prepared(
    *, integration: Integration, entries: Sequence[PreparedEntry | RecordFailure]
) -> UpsertResult:
    """`entries_upsert` of records prepared already (`entry_prepared_or_refused`)."""
    by_id: dict[str, PreparedEntry] = {}
    refused: list[RecordFailure] = []
    for entry in entries:
        if isinstance(entry, RecordFailure):
            refused.append(entry)
        else:
            by_id[entry.record.external_id] = entry
    if not by_id:
        return UpsertResult(refused=refused)
    if connection.vendor == "postgresql":
        from integrations.knowledge.copy import entries_upsert_copy

        result = entries_upsert_copy(integration=integration, records=list(by_id.values()))
    else:
        result = entries_upsert_values(integration=integration, records=list(by_id.values()))
    result.refused = refused
    return result


def entries_upsert_values(*, integration: Integration, records: Sequence[PreparedEntry]) -> UpsertResult:
    """Upsert prepared records (`entry_prepared`), unique by external id, as multi-row VALUES statements.

    A returned id is a written row: the id offered here when it was inserted, the stored one when
    it was updated. A record whose row is not returned was unchanged.
    """
    pk = KnowledgeEntry._meta.pk
    # SQLite takes 999 parameters per statement; PostgreSQL (no limit in Django) 65,535.
    per_statement = (connection.features.max_query_params or 65535) // len(ENTRY_FIELDS)
    row = _row_builder(integration, timezone.now())
    result = UpsertResult()
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(records), per_statement):
            chunk = records[start : start + per_statement]
            offered, params = set(), []
            for record in chunk:
                entry_id = uuid.uuid4()
                offered.add(entry_id)
                params.extend(row(record, entry_id))
            cursor.execute(entry_upsert_sql(connection.vendor, _values_source(len(chunk)), _quoted("id")), params)
            written = [pk.to_python(entry_id) for (entry_id,) in cursor.fetchall()]
            created = sum(1 for entry_id in written if entry_id in offered)
            result.created += created
            result.updated += len(written) - created
            result.unchanged += len(chunk) - len(written)
    return result


@functools.cache
def entry_upsert_one_sql(vendor: str) -> str:
    """The webhook's single-record upsert, returning the id of a written row (none if unchanged)."""
    return entry_upsert_sql(vendor, _values_source(1), _quoted("id"))


def entry_upsert_returning_id(*, integration: Integration, record: Record) -> uuid.UUID:
    """Upsert one record in a single statement and return its entry's id.

    The webhook hot path (PostgreSQL and SQLite 3.35+). Cleaned first (RecordRefused, a 400 where
    a request sent it, when it cannot be stored). An unchanged, live row is left alone, and then
    its id is read separately.
    """
    with connection.cursor() as cursor:
        cursor.execute(entry_upsert_one_sql(connection.vendor), entry_row_params(integration, record))
        returned = cursor.fetchone()
    if returned is not None:
        return KnowledgeEntry._meta.pk.to_python(returned[0])
    return (
        KnowledgeEntry.objects.filter(integration=integration, external_id=record.external_id)
        .values_list("id", flat=True)
        .get()
    )


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
