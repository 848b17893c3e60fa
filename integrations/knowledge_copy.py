"""The PostgreSQL write path of knowledge upserts: COPY into a staging table, then one merge.

One batch costs three statements whatever its size: COPY the rows into a temporary table, then
`INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE the hash differs or the row is a tombstone
... RETURNING (xmax = 0)`. A returned row was inserted (xmax 0) or updated; a staged row that is not
returned was unchanged. The counts are exactly those of the portable ORM path.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from django.db import connection, transaction
from django.utils import timezone

from connectors.base import Record
from integrations.models import Integration, KnowledgeEntry

STAGE_TABLE = "knowledge_entry_stage"
# (column, SQL type in the staging table) in COPY order.
STAGE_COLUMNS = (
    ("external_id", "text"),
    ("title", "text"),
    ("content", "text"),
    ("html", "text"),
    ("url", "text"),
    ("author", "text"),
    ("language", "text"),
    ("metadata", "jsonb"),
    ("source_created_at", "timestamptz"),
    ("source_updated_at", "timestamptz"),
    ("content_hash", "text"),
)
UPDATED_COLUMNS = tuple(name for name, _ in STAGE_COLUMNS if name != "external_id")


@functools.cache
def _statements() -> tuple[str, str, str]:
    """CREATE of the staging table, its COPY, and the merge; built once."""
    quote = connection.ops.quote_name
    table = quote(KnowledgeEntry._meta.db_table)
    stage = quote(STAGE_TABLE)
    create = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ("
        + ", ".join(f"{quote(name)} {kind}" for name, kind in STAGE_COLUMNS)
        + ") ON COMMIT DELETE ROWS"
    )
    copy = f"COPY {stage} ({', '.join(quote(name) for name, _ in STAGE_COLUMNS)}) FROM STDIN"
    staged = ", ".join(f"s.{quote(name)}" for name, _ in STAGE_COLUMNS)
    updates = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in UPDATED_COLUMNS)
    target_columns = ", ".join(
        quote(name)
        for name in (
            "id",
            "organisation_id",
            "integration_id",
            *(n for n, _ in STAGE_COLUMNS),
            "deleted_at",
            "created_at",
            "updated_at",
        )
    )
    merge = (
        f"INSERT INTO {table} AS e ({target_columns}) "
        f"SELECT gen_random_uuid(), %s, %s, {staged}, NULL, %s, %s FROM {stage} s "
        f"ON CONFLICT ({quote('integration_id')}, {quote('external_id')}) DO UPDATE SET {updates}, "
        f"{quote('deleted_at')} = NULL, {quote('updated_at')} = EXCLUDED.{quote('updated_at')} "
        # A tombstone that comes back is rewritten even when its content is the same.
        f"WHERE e.{quote('content_hash')} <> EXCLUDED.{quote('content_hash')} OR e.{quote('deleted_at')} IS NOT NULL "
        "RETURNING (xmax = 0)"
    )
    return create, copy, merge


def _stage_row(record: Record, digest: str) -> tuple:
    """A record cleaned by integrations.knowledge_clean (no NUL, valid Unicode, column lengths) as a row."""
    return (
        record.external_id,
        record.title,
        record.content,
        record.html,
        record.url,
        record.author,
        record.language,
        json.dumps(record.metadata, default=str),
        record.source_created_at,
        record.source_updated_at,
        digest,
    )


def entries_upsert_copy(*, integration: Integration, records: Sequence[Record]):
    """Upsert cleaned records (integrations.knowledge.entries_upsert) whose external ids are unique in the batch."""
    from integrations.knowledge import UpsertResult, content_hash

    create, copy_sql, merge = _statements()
    now = timezone.now()
    nested = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(create)
        if nested:
            # ON COMMIT DELETE ROWS empties the table only when the outer transaction commits.
            cursor.execute(f"TRUNCATE {connection.ops.quote_name(STAGE_TABLE)}")
        with cursor.copy(copy_sql) as copy:
            for record in records:
                copy.write_row(_stage_row(record, content_hash(record)))
        cursor.execute(merge, [integration.organisation_id, integration.id, now, now])
        inserted_flags = cursor.fetchall()
    created = sum(1 for (inserted,) in inserted_flags if inserted)
    updated = len(inserted_flags) - created
    return UpsertResult(created=created, updated=updated, unchanged=len(records) - created - updated)
