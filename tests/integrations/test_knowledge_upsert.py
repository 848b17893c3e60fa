"""The knowledge base write path: batch upserts by stable key, unchanged rows untouched, tombstones."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.base import Deletion, Record
from integrations.knowledge import entries_tombstone, entries_upsert
from integrations.models import Integration, KnowledgeEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(org) -> Integration:
    return Integration.objects.create(organisation=org, type="notes", name="Notes")


def records(n: int, body: str = "body") -> list[Record]:
    return [Record(external_id=f"id-{i}", title=f"Title {i}", content=f"{body} {i}") for i in range(n)]


def test_running_the_same_batch_twice_creates_nothing_twice(integration):
    first = entries_upsert(integration=integration, records=records(10))
    second = entries_upsert(integration=integration, records=records(10))
    assert (first.created, first.updated, first.unchanged) == (10, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 10)
    assert KnowledgeEntry.objects.filter(integration=integration).count() == 10


def test_changed_records_are_updated_in_place(integration):
    entries_upsert(integration=integration, records=records(3))
    before = {e.external_id: (e.id, e.created_at) for e in KnowledgeEntry.objects.all()}
    result = entries_upsert(integration=integration, records=records(3, body="edited"))
    assert (result.created, result.updated) == (0, 3)
    for entry in KnowledgeEntry.objects.all():
        assert (entry.id, entry.created_at) == before[entry.external_id]
        assert entry.content.startswith("edited")


def test_a_batch_is_written_without_a_query_per_record(integration):
    with CaptureQueriesContext(connection) as queries:
        entries_upsert(
            integration=integration,
            records=[Record(external_id=f"big-{i}", title="t", content="c") for i in range(400)],
        )
    # Two look-ups plus the INSERT ... ON CONFLICT, which SQLite splits by its parameter limit.
    assert len(queries.captured_queries) <= 10
    assert KnowledgeEntry.objects.filter(integration=integration).count() == 400


def test_entries_belong_to_the_integrations_organisation(integration, org):
    entries_upsert(integration=integration, records=records(2))
    assert set(KnowledgeEntry.objects.values_list("organisation_id", flat=True)) == {org.id}


def test_deletions_keep_tombstones_and_a_returning_object_revives(integration):
    entries_upsert(integration=integration, records=records(2))
    when = datetime(2026, 5, 1, tzinfo=UTC)
    assert entries_tombstone(integration=integration, deletions=[Deletion("id-0", deleted_at=when)]) == 1
    assert entries_tombstone(integration=integration, deletions=[Deletion("id-0")]) == 0
    tomb = KnowledgeEntry.objects.get(external_id="id-0")
    assert tomb.deleted_at == when and tomb.content == "body 0"
    result = entries_upsert(integration=integration, records=records(1))
    assert result.updated == 1
    assert KnowledgeEntry.objects.get(external_id="id-0").deleted_at is None


def test_same_key_in_two_integrations_is_two_entries(org, integration):
    other = Integration.objects.create(organisation=org, type="notes", name="Other")
    entries_upsert(integration=integration, records=records(1))
    entries_upsert(integration=other, records=records(1))
    assert KnowledgeEntry.objects.filter(external_id="id-0").count() == 2


def test_single_statement_upsert_returns_the_same_id_and_revives_tombstones(integration):
    from integrations.knowledge.writes import entry_upsert_returning_id

    record = Record("one", "One", "first")
    created = entry_upsert_returning_id(integration=integration, record=record)
    assert entry_upsert_returning_id(integration=integration, record=record) == created  # unchanged
    changed = entry_upsert_returning_id(integration=integration, record=Record("one", "One", "second"))
    assert changed == created and KnowledgeEntry.objects.get(id=created).content == "second"
    entries_tombstone(integration=integration, deletions=[Deletion("one")])
    assert entry_upsert_returning_id(integration=integration, record=Record("one", "One", "second")) == created
    assert KnowledgeEntry.objects.get(id=created).deleted_at is None
    assert KnowledgeEntry.objects.count() == 1
