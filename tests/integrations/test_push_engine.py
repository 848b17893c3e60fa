"""The push engine through a real worker: notes sources feed a shelf destination over real HTTP.

What a run offers is decided by the push ledger (integrations.runs.push); each test reads the
shelf's side (what it received, batch by batch) and the job's counters from the API.
"""

from __future__ import annotations

import pytest
from django.db.models import F

from connectors.base import Record
from integrations.knowledge import entries_upsert
from integrations.models import Integration, KnowledgeEntry, PushLedgerEntry, SyncJob
from integrations.runs.jobs import Counters, JobLog, LeaseLost, job_claim
from integrations.runs.push import push_run
from integrations.services import connector_for
from tests.fakes.notes import NotesServer
from tests.fakes.shelf import ShelfServer
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


@pytest.fixture
def shelf():
    with ShelfServer() as server:
        yield server


def create(client, body: dict) -> str:
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def shelf_body(shelf: ShelfServer, *, sources: str = "", batch_size: int = 50, kind: str = "shelf") -> dict:
    config = {"base_url": shelf.url, "api_key": "shelf-key", "sources": sources, "batch_size": batch_size}
    return {"type": kind, "name": "Published", "config": config}


def run(client, integration_id: str) -> dict:
    """Run the integration through the worker; the finished job with its log."""
    job = job_ended(client, integration_id, start_sync(client, integration_id)["sync_job_id"])
    assert job["status"] == "completed", job
    return client.get(f"{BASE}{integration_id}/history/{job['id']}").json()


def push_figures(job: dict) -> tuple:
    """(offered, sent, accepted, unchanged, created remotely, failed)."""
    progress = job["progress"]
    return (
        job["records_found"],
        job["records_synced"],
        job["records_imported"],
        job["records_skipped"],
        job["entries_created"],
        progress["records_failed"],
    )


def notes_source(client, notes: NotesServer, count: int, prefix: str = "n") -> str:
    notes.upstream.page_size = 500
    for n in range(count):
        notes.upstream.put(f"{prefix}{n}", f"Note {prefix}{n}", f"Body of {prefix}{n}")
    source = create(
        client, {"type": "notes", "name": f"Notes {prefix}", "config": {"base_url": notes.url, "api_key": "notes-key"}}
    )
    run(client, source)
    return source


def test_a_push_sends_batches_of_the_connectors_size_and_saves_progress_after_each(
    celery_worker_process, admin_client, notes, shelf
):
    notes_source(admin_client, notes, 120)
    destination = create(admin_client, shelf_body(shelf, batch_size=50))
    job = run(admin_client, destination)
    assert [len(batch) for batch in shelf.upstream.batches] == [50, 50, 20]
    assert push_figures(job) == (120, 120, 120, 0, 120, 0)
    assert job["progress"]["direction"] == "push" and job["progress"]["percent"] == 100
    assert job["progress"]["directions"]["push"]["records_imported"] == 120
    assert len(shelf.upstream.articles) == 120
    # The ledger holds what the shelf accepted: its id for each entry and the entry's hash.
    ledger = PushLedgerEntry.objects.filter(destination_id=destination)
    assert ledger.count() == 120 and not ledger.filter(accepted_at__isnull=True).exists()
    entry = KnowledgeEntry.objects.get(external_id="n7")
    row = ledger.get(entry=entry)
    assert row.accepted_hash == entry.content_hash and shelf.upstream.articles[row.remote_id]["title"] == "Note n7"
    # Its checkpoint is the push's own; the pull checkpoint column is left as it was.
    integration = Integration.objects.get(pk=destination)
    assert integration.push_checkpoint == {"last_job_id": job["id"]} and integration.sync_checkpoint == {}


def test_the_ledger_offers_nothing_twice_one_edit_once_and_a_tombstone_once(
    celery_worker_process, admin_client, notes, shelf
):
    source = notes_source(admin_client, notes, 30)
    destination = create(admin_client, shelf_body(shelf))
    run(admin_client, destination)
    sent_before = len(shelf.upstream.sent_titles())

    assert push_figures(run(admin_client, destination)) == (0, 0, 0, 30, 0, 0)
    assert len(shelf.upstream.sent_titles()) == sent_before  # not even an empty batch

    notes.upstream.put("n4", "Note n4", "Edited body")
    run(admin_client, source)
    edited = run(admin_client, destination)
    assert push_figures(edited) == (1, 1, 1, 29, 0, 0)  # an update: nothing created remotely
    remote_id = PushLedgerEntry.objects.get(destination_id=destination, entry__external_id="n4").remote_id
    assert shelf.upstream.articles[remote_id]["content"] == "Edited body"

    notes.upstream.delete("n5")
    run(admin_client, source)
    removed = run(admin_client, destination)
    assert push_figures(removed) == (1, 1, 1, 29, 0, 0)
    last_batch = shelf.upstream.batches[-1]
    assert [(item["title"], item["deleted"]) for item in last_batch] == [("Note n5", True)]
    assert len(shelf.upstream.articles) == 29 and shelf.upstream.removed == {last_batch[0]["id"]}

    # The tombstone is offered once: it now counts as unchanged.
    assert push_figures(run(admin_client, destination)) == (0, 0, 0, 30, 0, 0)


def test_a_refused_entry_is_logged_and_offered_again_on_the_next_run_only(
    celery_worker_process, admin_client, notes, shelf
):
    notes_source(admin_client, notes, 10)
    shelf.upstream.refuse_titles["Note n3"] = "title too short"
    shelf.upstream.silent_titles.add("Note n6")
    destination = create(admin_client, shelf_body(shelf))
    first = run(admin_client, destination)
    assert push_figures(first) == (10, 10, 8, 0, 8, 2)
    errors = {line["external_id"]: line["message"] for line in first["log"] if line["level"] == "error"}
    assert errors == {
        "n3": "The shelf refused it: title too short",
        "n6": "The destination gave no answer for this entry.",
    }
    refused = PushLedgerEntry.objects.get(destination_id=destination, entry__external_id="n3")
    assert (refused.accepted_at, refused.attempts, refused.last_error) == (None, 1, errors["n3"])

    shelf.upstream.refuse_titles.clear()
    shelf.upstream.silent_titles.clear()
    second = run(admin_client, destination)
    assert push_figures(second) == (2, 2, 2, 8, 2, 0)
    assert sorted(item["title"] for item in shelf.upstream.batches[-1]) == ["Note n3", "Note n6"]
    assert push_figures(run(admin_client, destination)) == (0, 0, 0, 10, 0, 0)


def test_a_failed_batch_fails_its_entries_which_the_next_run_offers_again(
    celery_worker_process, admin_client, notes, shelf
):
    notes_source(admin_client, notes, 25)
    shelf.upstream.fail_batch_numbers = {2}  # 422: refused as a whole, not worth a retry
    destination = create(admin_client, shelf_body(shelf, batch_size=10))
    first = run(admin_client, destination)
    assert push_figures(first) == (25, 25, 15, 0, 15, 10)
    assert any("A batch of 10 entries was refused" in line["message"] for line in first["log"])
    second = run(admin_client, destination)
    assert push_figures(second) == (10, 10, 10, 15, 10, 0)
    assert len(shelf.upstream.articles) == 25


def test_an_unavailable_destination_retries_the_job_which_goes_on_after_its_last_batch(
    celery_worker_process, admin_client, notes, shelf
):
    notes_source(admin_client, notes, 30)
    shelf.upstream.fail_batch_numbers = {3}
    shelf.upstream.fail_status = 429  # with Retry-After: 1, so the task retries a second later
    destination = create(admin_client, shelf_body(shelf, batch_size=10))
    job = run(admin_client, destination)
    assert push_figures(job) == (30, 30, 30, 0, 30, 0)
    assert job["progress"]["attempts"] == 2
    # Batches 1 and 2 were not sent again: the retry went on from the saved position.
    sizes = [len(batch) for batch in shelf.upstream.batches]
    assert sizes == [10, 10, 10, 10] and len(set(shelf.upstream.sent_titles())) == 30
    assert any("Retrying in 1 s" in line["message"] for line in job["log"]), job["log"]


def test_a_destination_publishes_only_the_sources_it_names_and_a_deleted_source_drops_out(
    celery_worker_process, admin_client, shelf
):
    with NotesServer() as first_notes, NotesServer() as second_notes:
        first = notes_source(admin_client, first_notes, 3, prefix="a")
        second = notes_source(admin_client, second_notes, 4, prefix="b")
        only_first = create(admin_client, shelf_body(shelf, sources=first))
        assert push_figures(run(admin_client, only_first)) == (3, 3, 3, 0, 3, 0)
        assert sorted(shelf.upstream.sent_titles()) == ["Note a0", "Note a1", "Note a2"]

        every_source = create(admin_client, {**shelf_body(shelf), "name": "Everything"})
        assert push_figures(run(admin_client, every_source))[:3] == (7, 7, 7)

        both = create(admin_client, {**shelf_body(shelf, sources=f"{first}, {second}"), "name": "Both"})
        assert admin_client.delete(f"{BASE}{second}").status_code == 204
        assert push_figures(run(admin_client, both))[:3] == (3, 3, 3)


def test_a_two_way_connector_pulls_then_pushes_with_checkpoints_apart_and_no_echo(
    celery_worker_process, admin_client, notes, shelf
):
    notes_source(admin_client, notes, 3)
    shelf.upstream.put_native("Shelf own article", "Written on the shelf")
    both_ways = create(admin_client, shelf_body(shelf, kind="shelf-two-way"))
    job = run(admin_client, both_ways)
    directions = job["progress"]["directions"]
    # Pull first (the connector's run_order): the shelf's own article; then the three notes pushed.
    assert (directions["pull"]["records_imported"], directions["pull"]["entries_created"]) == (1, 1)
    assert (directions["push"]["records_found"], directions["push"]["records_imported"]) == (3, 3)
    assert (job["records_imported"], job["entries_created"]) == (4, 4)  # Knora's fields: both summed
    # Its own entry is never offered back to it.
    assert sorted(shelf.upstream.sent_titles()) == ["Note n0", "Note n1", "Note n2"]

    integration = Integration.objects.get(pk=both_ways)
    assert integration.sync_checkpoint == {"since": 1}
    assert integration.push_checkpoint == {"last_job_id": job["id"]}

    # The next pull sees the three articles the push wrote and does not import them (no echo).
    second = run(admin_client, both_ways)
    assert second["progress"]["directions"]["pull"]["records_skipped"] == 3
    assert any("written upstream by this hub's own push" in line["message"] for line in second["log"])
    assert KnowledgeEntry.objects.filter(integration_id=both_ways).count() == 1
    # Each direction kept its own checkpoint: the pull's moved on, the push's is its own again.
    integration.refresh_from_db()
    assert integration.sync_checkpoint == {"since": 4}
    assert integration.push_checkpoint == {"last_job_id": second["id"]}


def test_a_push_whose_lease_is_taken_mid_batch_writes_nothing_more(admin_client, notes, shelf):
    """The reaper (or another worker) takes the lease while a batch is out: the answers that come back
    are not written to the ledger, nor the progress or the position, and the worker stops."""
    source = create(
        admin_client, {"type": "notes", "name": "Notes", "config": {"base_url": notes.url, "api_key": "notes-key"}}
    )
    records = [Record(external_id=f"e{n}", title=f"Entry {n}", content="text") for n in range(6)]
    entries_upsert(integration=Integration.objects.get(pk=source), records=records)
    destination = Integration.objects.get(pk=create(admin_client, shelf_body(shelf, batch_size=3)))
    job = SyncJob.objects.create(organisation_id=destination.organisation_id, integration=destination)
    lease, _ = job_claim(job_id=str(job.pk), org_id=str(job.organisation_id))

    def take_the_lease(items) -> None:
        if len(shelf.upstream.batches) == 1:  # the second batch is arriving
            SyncJob.objects.filter(pk=job.pk).update(fencing_token=F("fencing_token") + 1)

    shelf.upstream.on_batch = take_the_lease
    with pytest.raises(LeaseLost):
        push_run(lease, destination, connector_for(destination), JobLog(), Counters(direction="push"))
    assert len(shelf.upstream.batches) == 2  # it stopped: no third batch
    assert PushLedgerEntry.objects.filter(destination=destination).count() == 3  # the first batch only
    job.refresh_from_db()
    assert job.progress["records_synced"] == 3
    destination.refresh_from_db()
    assert destination.push_checkpoint["figures"]["records_synced"] == 3


def test_an_entry_the_destination_skips_is_counted_and_not_offered_again_until_it_changes(
    celery_worker_process, admin_client, notes, shelf
):
    notes.upstream.put("private", "Private note", "Not for the shelf", metadata={"shelf": "skip"})
    source = notes_source(admin_client, notes, 2)
    destination = create(admin_client, shelf_body(shelf))
    first = run(admin_client, destination)
    assert push_figures(first) == (3, 3, 2, 1, 2, 0)
    assert {"level": "info", "message": "Skipped: marked not for the shelf", "external_id": "private"}.items() <= next(
        line for line in first["log"] if line.get("external_id") == "private"
    ).items()
    assert "Private note" not in shelf.upstream.sent_titles()
    assert push_figures(run(admin_client, destination)) == (0, 0, 0, 3, 0, 0)
    notes.upstream.put("private", "Private note", "Now public")
    run(admin_client, source)
    assert push_figures(run(admin_client, destination)) == (1, 1, 1, 2, 1, 0)


def test_a_destination_that_fails_runs_with_failures_fails_the_job_naming_each_after_every_batch(
    celery_worker_process, admin_client, notes, shelf
):
    notes_source(admin_client, notes, 8)
    shelf.upstream.refuse_titles.update({"Note n2": "too short", "Note n7": "duplicate"})
    body = shelf_body(shelf, batch_size=3)
    body["config"]["strict"] = True
    destination = create(admin_client, body)
    job = job_ended(admin_client, destination, start_sync(admin_client, destination)["sync_job_id"])
    assert job["status"] == "failed"
    assert job["error_message"] == (
        "2 entries failed: n2: The shelf refused it: too short; n7: The shelf refused it: duplicate."
    )
    # Every batch was still sent, and what was accepted stays accepted.
    assert len(shelf.upstream.batches) == 3 and len(shelf.upstream.articles) == 6
    shelf.upstream.refuse_titles.clear()
    assert push_figures(run(admin_client, destination)) == (2, 2, 2, 6, 2, 0)
