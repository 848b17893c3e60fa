"""Sync jobs run by a real Celery worker process against a fake upstream over real HTTP."""

import time

import pytest

from integrations.models import Integration, KnowledgeEntry, SyncJob
from tests.waiting import job_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


def start_sync(client, integration_id: str) -> dict:
    response = client.post(f"{BASE}{integration_id}/sync")
    assert response.status_code == 202, response.content
    return response.json()


def test_sync_imports_every_note_and_reports_counters(celery_worker_process, admin_client, notes, notes_integration):
    for n in range(5):
        notes.upstream.put(f"n{n}", f"Note {n}", f"Body of note {n}")
    started = start_sync(admin_client, notes_integration)
    assert started["status"] == "running" and started["message"] == "Sync triggered successfully."
    job = job_ended(admin_client, notes_integration, started["sync_job_id"])
    assert job["status"] == "completed", job
    assert (job["records_synced"], job["records_found"], job["records_imported"]) == (5, 5, 5)
    assert (job["records_skipped"], job["threads_grouped"], job["entries_created"]) == (0, 0, 5)
    assert job["error_message"] is None and job["started_at"] and job["completed_at"]
    assert job["progress"]["percent"] == 100
    integration = Integration.objects.get(id=notes_integration)
    assert integration.status == "active" and integration.last_sync_at is not None
    titles = sorted(KnowledgeEntry.objects.filter(integration=integration).values_list("title", flat=True))
    assert titles == [f"Note {n}" for n in range(5)]
    assert "Task integrations.run_sync_job[" in celery_worker_process.log()


def test_second_sync_fetches_only_changes_creates_nothing_twice_and_keeps_tombstones(
    celery_worker_process, admin_client, notes, notes_integration
):
    for n in range(3):
        notes.upstream.put(f"n{n}", f"Note {n}", "v1")
    first = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert first["entries_created"] == 3
    notes.upstream.put("n1", "Note 1", "v2")
    notes.upstream.delete("n2")
    second = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert second["status"] == "completed"
    assert second["records_synced"] == 1 and second["entries_created"] == 0
    entries = {e.external_id: e for e in KnowledgeEntry.objects.filter(integration_id=notes_integration)}
    assert len(entries) == 3
    assert entries["n1"].content == "v2"
    assert entries["n2"].deleted_at is not None and entries["n0"].deleted_at is None
    history = admin_client.get(f"{BASE}{notes_integration}/history").json()
    assert [j["id"] for j in history["jobs"]] == [second["id"], first["id"]]


def test_a_second_sync_request_while_one_runs_returns_the_running_job(
    celery_worker_process, admin_client, notes, notes_integration
):
    for n in range(4):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    notes.upstream.page_delay = 1.0
    first = start_sync(admin_client, notes_integration)
    second = start_sync(admin_client, notes_integration)
    assert second["sync_job_id"] == first["sync_job_id"]
    assert "already running" in second["message"]
    job = job_ended(admin_client, notes_integration, first["sync_job_id"])
    assert job["status"] == "completed"
    assert SyncJob.objects.filter(integration_id=notes_integration).count() == 1


def test_progress_is_visible_while_the_job_runs(celery_worker_process, admin_client, notes, notes_integration):
    for n in range(6):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    notes.upstream.page_delay = 0.7
    job_id = start_sync(admin_client, notes_integration)["sync_job_id"]
    seen_running = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and seen_running is None:
        detail = admin_client.get(f"{BASE}{notes_integration}/history/{job_id}").json()
        if detail["status"] == "running" and detail["progress"].get("records_synced"):
            seen_running = detail
        time.sleep(0.1)
    assert seen_running is not None
    assert seen_running["records_synced"] is None  # Knora's counters stay null until completion
    assert 0 < seen_running["progress"]["percent"] < 100
    assert Integration.objects.get(id=notes_integration).status in ("syncing", "active")
    assert job_ended(admin_client, notes_integration, job_id)["status"] == "completed"


def test_revoked_credentials_fail_the_job_with_a_useful_message(
    celery_worker_process, admin_client, notes, notes_integration
):
    notes.upstream.api_key = "rotated"
    job = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert job["status"] == "failed"
    assert "401" in job["error_message"] or "credential" in job["error_message"].lower()
    assert job["records_synced"] is None
    assert Integration.objects.get(id=notes_integration).status == "error"
    health = admin_client.get(f"{BASE}{notes_integration}/connection-health").json()
    assert health["healthy"] is False and "401" in health["message"]


def test_a_connector_crash_never_leaves_the_job_running(celery_worker_process, admin_client, notes, notes_integration):
    notes.upstream.put("n0", "Note", "body")
    notes.upstream.broken_json = True
    job = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert job["status"] == "failed" and job["error_message"]
    detail = admin_client.get(f"{BASE}{notes_integration}/history/{job['id']}").json()
    assert detail["log"][-1]["level"] == "error"


def test_webhook_integration_sync_completes_with_nothing_to_pull(celery_worker_process, admin_client):
    created = admin_client.post(BASE, {"type": "webhook", "name": "Hook"}, format="json").json()
    job = job_ended(admin_client, created["id"], start_sync(admin_client, created["id"])["sync_job_id"])
    assert job["status"] == "completed" and job["records_synced"] == 0


def test_live_probe_and_preview_go_through_the_connector(admin_client, notes, notes_integration):
    for n in range(3):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    health = admin_client.get(f"{BASE}{notes_integration}/connection-health").json()
    assert health["healthy"] is True and "notes-user" in health["message"]
    preview = admin_client.get(f"{BASE}{notes_integration}/preview").json()
    assert preview["items"] == [{"label": "notes", "count": 3}] and preview["estimated_entries"] == 3
    assert not KnowledgeEntry.objects.exists()
