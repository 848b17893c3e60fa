"""The one write module: every path that stores an entry (the sync's batch, PostgreSQL's COPY
batch, the webhook's single statement and its one-statement CTE) cleans a record the same way and
applies the same changed-or-tombstoned rule, through the one statement of `writes.entry_upsert_sql`."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.base import Deletion, Record
from integrations.knowledge.clean import COLUMN_LIMITS, record_cleaned
from integrations.knowledge.writes import (
    changed_or_tombstoned_sql,
    content_hash,
    entries_tombstone,
    entries_upsert,
    entries_upsert_values,
    entry_prepared,
    entry_upsert_returning_id,
)
from integrations.models import Integration, KnowledgeEntry
from webhooks.services import _entry_and_delivery_insert

pytestmark = pytest.mark.django_db

HOSTILE = Record(
    external_id="hostile-1",
    title="Ti\x00tle " + "t" * 1200,
    content="bo\x00dy \ud800 end",
    html="<p>h\x00</p>",
    url="https://example.com/" + "a" * 2100,
    author="a\udfffb",
    language="en-GB-x-" + "l" * 40,
    metadata={"k\x00": "v\x00", "nan": float("nan"), "when": datetime(2024, 1, 2, tzinfo=UTC), "deep": {"ok": [1]}},
    source_created_at=datetime(2024, 5, 6, 7, 8, 9),  # naive: read as UTC
    source_updated_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-10))),  # past UTC's end
)
STORED = [f.name for f in KnowledgeEntry._meta.concrete_fields if f.name not in ("id", "organisation", "integration")]
_keys = itertools.count()


def _batch(integration: Integration, record: Record) -> None:
    # The sync's path: COPY + merge on PostgreSQL, multi-row VALUES elsewhere.
    entries_upsert(integration=integration, records=[record])


def _values_batch(integration: Integration, record: Record) -> None:
    # What entries_upsert runs off PostgreSQL, run on PostgreSQL too.
    entries_upsert_values(integration=integration, records=[entry_prepared(record)])


def _webhook_statement(integration: Integration, record: Record) -> None:
    entry_upsert_returning_id(integration=integration, record=record)


def _webhook_cte(integration: Integration, record: Record) -> None:
    # PostgreSQL's hot path: the entry and its delivery row in one statement.
    _entry_and_delivery_insert(integration, record, f"key-{next(_keys)}")


PATHS: dict[str, Callable[[Integration, Record], None]] = {
    "batch": _batch,
    "webhook statement": _webhook_statement,
}
if connection.vendor == "postgresql":
    PATHS |= {"VALUES batch": _values_batch, "webhook CTE": _webhook_cte}


def _row(integration: Integration) -> dict:
    return KnowledgeEntry.objects.filter(integration=integration).values(*STORED).get()


def _write(path: str, integration: Integration, record: Record) -> list[str]:
    """Write through `path`; the statements that wrote entry rows."""
    with CaptureQueriesContext(connection) as queries:
        PATHS[path](integration, record)
    table = connection.ops.quote_name(KnowledgeEntry._meta.db_table)
    return [q["sql"] for q in queries if "INSERT INTO " + table in q["sql"]]


def _story(path: str, integration: Integration) -> list[tuple[str, dict]]:
    """A hostile record written, written again, tombstoned and sent again, then edited."""
    steps = []
    statements = _write(path, integration, HOSTILE)
    first = _row(integration)
    steps.append(("created", first))
    _write(path, integration, HOSTILE)
    again = _row(integration)
    steps.append(("unchanged" if again == first else "rewritten", again))
    entries_tombstone(integration=integration, deletions=[Deletion(HOSTILE.external_id)])
    assert _row(integration)["deleted_at"] is not None
    statements += _write(path, integration, HOSTILE)
    revived = _row(integration)
    steps.append(
        (
            "revived" if revived["deleted_at"] is None and revived["updated_at"] > first["updated_at"] else "dead",
            revived,
        )
    )
    edited = dataclasses.replace(HOSTILE, content="edited")
    statements += _write(path, integration, edited)
    steps.append(("edited" if _row(integration)["content"] == "edited" else "kept", _row(integration)))
    # Every write that touched the table carried the one rule, from the one builder.
    assert statements and all(changed_or_tombstoned_sql() in sql for sql in statements), (path, statements)
    return steps


def _content(row: dict) -> dict:
    return {name: value for name, value in row.items() if name not in ("created_at", "updated_at")}


def test_every_write_path_stores_the_same_cleaned_row_and_applies_the_same_rule(org):
    stories = {
        path: _story(path, Integration.objects.create(organisation=org, type="webhook", name=path)) for path in PATHS
    }
    expected_steps = ["created", "unchanged", "revived", "edited"]
    for path, steps in stories.items():
        assert [step for step, _ in steps] == expected_steps, path
    reference = {step: _content(row) for step, row in stories["batch"]}
    for path, steps in stories.items():
        assert {step: _content(row) for step, row in steps} == reference, path

    stored = reference["created"]
    assert "\x00" not in stored["title"] + stored["content"] + stored["html"] and stored["html"] == "<p>h</p>"
    assert stored["content"] == "body \ufffd end" and stored["author"] == "a\ufffdb"
    for name, limit in COLUMN_LIMITS.items():
        assert len(stored[name]) <= limit, name
    assert len(stored["title"]) == COLUMN_LIMITS["title"] and len(stored["url"]) == COLUMN_LIMITS["url"]
    assert stored["metadata"] == {"k": "v", "nan": None, "when": "2024-01-02T00:00:00+00:00", "deep": {"ok": [1]}}
    assert stored["source_created_at"] == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert stored["source_updated_at"] is None and stored["deleted_at"] is None


def _values_upsert(*, integration: Integration, records: list[Record]):
    return entries_upsert_values(integration=integration, records=[entry_prepared(r) for r in records])


def test_every_batch_path_counts_created_updated_and_unchanged_alike(org):
    batch_paths = {"batch": entries_upsert}
    if connection.vendor == "postgresql":
        batch_paths["VALUES batch"] = _values_upsert
    counts = {}
    for path, upsert in batch_paths.items():
        integration = Integration.objects.create(organisation=org, type="notes", name=path)
        first = [record_cleaned(Record(f"id-{i}", f"T {i}", f"body\x00 {i}")) for i in range(150)]
        upsert(integration=integration, records=first)
        entries_tombstone(integration=integration, deletions=[Deletion("id-0"), Deletion("id-1")])
        second = [
            record_cleaned(Record(f"id-{i}", f"T {i}", "edited" if i % 10 == 5 else f"body {i}")) for i in range(200)
        ]
        result = upsert(integration=integration, records=second)
        counts[path] = (result.created, result.updated, result.unchanged)
    # 50 new; 15 edited + 2 revived tombstones; the other 133 unchanged.
    assert set(counts.values()) == {(50, 17, 133)}, counts


UNICODE = Record(
    external_id="unicode-1",
    title="Grüße aus 東京 😀",
    content='Zeile «eins»\n\t"zwei" \\ drei \u2028 😀',
    html=None,
    author="Zoë",
    metadata={"zß": [1.5, 0.25, True, False, None], "ключ": {"😀": "значение", "leer": {}}, "n": 2**40},
    source_created_at=datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    source_updated_at=datetime(2023, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-10))),
)


def test_every_write_path_stores_unicode_text_and_metadata_as_they_are(org):
    # The batch path stages metadata as the cleaning's ASCII-escaped JSON text in binary COPY.
    stored = {}
    for path in PATHS:
        integration = Integration.objects.create(organisation=org, type="webhook", name=path)
        _write(path, integration, UNICODE)
        stored[path] = _content(_row(integration))
    for path, row in stored.items():
        assert row == stored["batch"], path
    row = stored["batch"]
    assert row["metadata"] == UNICODE.metadata
    assert (row["title"], row["content"], row["html"], row["author"]) == (
        UNICODE.title,
        UNICODE.content,
        None,
        "Zoë",
    )
    assert row["source_created_at"] == UNICODE.source_created_at
    assert row["source_updated_at"] == UNICODE.source_updated_at
    assert row["content_hash"] == content_hash(UNICODE)
