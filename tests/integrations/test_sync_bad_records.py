"""One record that fails to write never fails its batch: a real worker, the notes fake over real HTTP."""

from __future__ import annotations

import pytest
from django.db import connection

from integrations.models import Integration, KnowledgeEntry
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"
TABLE = KnowledgeEntry._meta.db_table


@pytest.fixture
def poison_id() -> str:
    """An external id the database in use refuses to store, after the write rule has cleaned the record.

    PostgreSQL: an id over the column's 512 characters (the rule does not cut ids: they are identities).
    SQLite enforces no length and, after cleaning, refuses no value of a record; a trigger stands in for
    a constraint that refuses one row (a real IntegrityError from the database, as a CHECK would give).
    """
    if connection.vendor == "postgresql":
        yield "poison-" + "x" * 600
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER refuse_poison BEFORE INSERT ON \"{TABLE}\" WHEN NEW.external_id = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'row refused by a constraint'); END"
        )
    yield "poison"
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse_poison")


def test_a_record_the_database_refuses_fails_alone_and_the_cursor_moves_on(
    celery_worker_process, admin_client, notes, notes_integration, poison_id
):
    notes.upstream.put("n1", "Note 1", "first")
    notes.upstream.put(poison_id, "Poison", "refused by the database")
    notes.upstream.put("n2", "Note 2", "second")
    job = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert job["status"] == "completed", job
    assert job["progress"]["records_failed"] == 1
    assert job["records_imported"] == 2 and job["records_synced"] == 3
    detail = admin_client.get(f"{BASE}{notes_integration}/history/{job['id']}").json()
    failures = [line for line in detail["log"] if line["level"] == "error"]
    assert [line["external_id"] for line in failures] == [poison_id]
    assert "could not be stored" in failures[0]["message"]
    assert set(KnowledgeEntry.objects.values_list("external_id", flat=True)) == {"n1", "n2"}
    checkpoint = Integration.objects.get(id=notes_integration).sync_checkpoint
    assert checkpoint == {"since": notes.upstream.version}

    # The next sync starts after the bad record: it neither fetches it again nor fails.
    notes.upstream.put("n3", "Note 3", "third")
    second = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert second["status"] == "completed", second
    assert (second["records_synced"], second["progress"]["records_failed"]) == (1, 0)
    assert set(KnowledgeEntry.objects.values_list("external_id", flat=True)) == {"n1", "n2", "n3"}


def test_hostile_values_from_an_upstream_are_cleaned_or_refused_and_never_fail_the_sync(
    celery_worker_process, admin_client, notes, notes_integration
):
    notes.upstream.put(
        "hostile",
        "Title \udfff",
        "Body\x00 \ud800",
        metadata={"\udfff": "key", "nan": float("nan"), "v": "a\x00b"},
        created_at="9999-12-31T23:59:59-10:00",
    )
    notes.upstream.put("bad-id-\udfff", "Refused", "an id that is not Unicode")
    notes.upstream.put("fine", "Fine", "fine")
    job = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert job["status"] == "completed", job
    assert (job["records_imported"], job["progress"]["records_failed"]) == (2, 1)
    detail = admin_client.get(f"{BASE}{notes_integration}/history/{job['id']}").json()
    assert [line["external_id"] for line in detail["log"] if line["level"] == "error"] == ["bad-id-\ufffd"]
    entry = KnowledgeEntry.objects.get(external_id="hostile")
    assert (entry.title, entry.content) == ("Title \ufffd", "Body \ufffd")
    assert entry.metadata == {"\ufffd": "key", "nan": None, "v": "ab"}
    assert entry.source_created_at is None
    listed = admin_client.get("/api/v1/knowledge/entries")
    assert listed.status_code == 200 and len(listed.json()["results"]) == 2
