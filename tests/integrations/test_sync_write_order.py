"""The sync loop's writes: the newer of a record and a deletion of one object wins, skipped items
are counted with their reasons, and the PostgreSQL COPY path stores what the VALUES path would."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg.pq import TransactionStatus

from connectors.base import Checkpoint, Deletion, Record, Skipped
from integrations.knowledge import entries_upsert
from integrations.models import Integration, KnowledgeEntry
from integrations.runs.engine import sync_job_run
from tests.integrations.test_sync_service import ScriptedSource, pending_job, scripted  # noqa: F401

pytestmark = pytest.mark.django_db
IDLE = TransactionStatus.IDLE


def run(integration) -> object:
    job = pending_job(integration)
    sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id))
    job.refresh_from_db()
    return job


def test_a_record_and_a_deletion_of_one_object_in_one_batch_keep_their_order(scripted):  # noqa: F811
    ScriptedSource.script = [
        Record("x", "X", "first"),
        Deletion("x"),  # deleted after it was written: a tombstone
        Deletion("y"),
        Record("y", "Y", "back"),  # written after it was deleted: alive
        Record("z", "Z", "one"),
        Record("z", "Z", "two"),  # the later record wins, the earlier is a duplicate
    ]
    job = run(scripted)
    entries = {e.external_id: e for e in KnowledgeEntry.objects.filter(integration=scripted)}
    assert entries["x"].deleted_at is not None and entries["x"].content == "first"
    assert entries["y"].deleted_at is None and entries["z"].content == "two"
    assert (job.records_synced, job.records_imported, job.records_skipped) == (4, 3, 1)
    assert job.progress["entries_deleted"] == 1


def test_skipped_items_are_counted_and_their_reasons_summed_up_in_the_log(scripted):  # noqa: F811
    ScriptedSource.script = [
        Record("a", "A", "alpha"),
        Skipped("d1", "status DRAFT"),
        Skipped("d2", "status DRAFT"),
        Skipped("p", "visibility PRIVATE"),
        Checkpoint({"cursor": 3}),
    ]
    job = run(scripted)
    assert (job.records_synced, job.records_imported, job.records_skipped, job.entries_created) == (4, 1, 3, 1)
    messages = [line["message"] for line in job.log]
    assert "Skipped 2 record(s): status DRAFT." in messages and "Skipped 1 record(s): visibility PRIVATE." in messages
    assert Integration.objects.get(pk=scripted.pk).sync_checkpoint == {"cursor": 3}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY write path is PostgreSQL's")
def test_the_copy_path_drops_nul_characters_postgresql_cannot_store(org):
    integration = Integration.objects.create(organisation=org, type="notes", name="Notes")
    record = Record("n", "Ti\x00tle", "bo\x00dy", html="<p>h\x00</p>", metadata={"k": "v"})
    assert entries_upsert(integration=integration, records=[record]).created == 1
    entry = KnowledgeEntry.objects.get(integration=integration)
    assert (entry.title, entry.content, entry.html, entry.metadata) == ("Title", "body", "<p>h</p>", {"k": "v"})


def test_a_large_batch_counts_created_updated_and_unchanged_exactly(org):
    integration = Integration.objects.create(organisation=org, type="notes", name="Notes")
    first = [Record(f"id-{i}", f"T {i}", f"body {i}") for i in range(3000)]
    assert entries_upsert(integration=integration, records=first).created == 3000
    second = [Record(f"id-{i}", f"T {i}", f"body {i}" if i % 3 else "edited") for i in range(3500)]
    result = entries_upsert(integration=integration, records=second)
    assert (result.created, result.updated, result.unchanged) == (500, 1000, 2000)
    assert KnowledgeEntry.objects.filter(integration=integration, content="edited").count() == 1000 + 167


class _Transactions:
    """Each statement of the default connection, with the number of the transaction it ran in."""

    def __init__(self) -> None:
        self.statements: list[tuple[int, str]] = []
        self.number = 0

    def __call__(self, execute, sql, params, many, context):
        raw = context["connection"].connection
        idle = not raw.in_transaction if connection.vendor == "sqlite" else raw.info.transaction_status == IDLE
        self.number += idle  # this statement begins a transaction
        self.statements.append((self.number, sql))
        return execute(sql, params, many, context)

    def of(self, *fragments: str) -> list[int]:
        return [number for number, sql in self.statements if all(f in sql for f in fragments)]


@pytest.mark.django_db(transaction=True)
def test_a_cursor_is_saved_in_the_transaction_of_the_batch_it_follows(scripted):  # noqa: F811
    ScriptedSource.script = [Record("a", "A", "alpha"), Record("b", "B", "beta"), Checkpoint({"cursor": 2})]
    transactions = _Transactions()
    with connection.execute_wrapper(transactions):
        job = run(scripted)
    assert job.status == "completed" and job.records_imported == 2
    entries_written = transactions.of('INTO "integrations_knowledgeentry"')
    cursor_saved = transactions.of('UPDATE "integrations_integration"', '"sync_checkpoint"')
    assert len(entries_written) == 1 and cursor_saved[:1] == entries_written  # one commit, never ahead
    assert Integration.objects.get(pk=scripted.pk).sync_checkpoint == {"cursor": 2}
