"""Ours beside Knora's API: `POST /<id>/sync/cancel` ends the running job, and its worker writes no more."""

from __future__ import annotations

import time

import pytest

from hub.models import Role
from integrations.models import Integration, KnowledgeEntry, SyncJob
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


def test_cancel_ends_the_running_sync_saying_who_and_its_worker_writes_no_more(
    celery_worker_process, admin_client, notes, notes_integration
):
    for n in range(60):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    notes.upstream.page_delay = 0.2  # 30 pages of 2: six seconds
    job_id = start_sync(admin_client, notes_integration)["sync_job_id"]
    wait_until(lambda: KnowledgeEntry.objects.filter(integration_id=notes_integration).count() >= 4)

    answer = admin_client.post(f"{BASE}{notes_integration}/sync/cancel")
    assert answer.status_code == 202, answer.content
    email = Integration.objects.get(pk=notes_integration).organisation.memberships.get().user.email
    assert answer.json() == {
        "sync_job_id": job_id,
        "integration_id": notes_integration,
        "status": "failed",
        "message": f"Cancelled by {email}.",
    }
    wait_until(lambda: "the lease was taken by another worker" in celery_worker_process.log())
    written = KnowledgeEntry.objects.filter(integration_id=notes_integration).count()
    time.sleep(1)
    assert KnowledgeEntry.objects.filter(integration_id=notes_integration).count() == written < 60
    job = job_ended(admin_client, notes_integration, job_id)
    assert (job["status"], job["error_message"]) == ("failed", f"Cancelled by {email}.")
    assert Integration.objects.get(pk=notes_integration).status == "active"
    # Nothing runs now: a second cancel is a 404, and a new sync starts.
    missing = admin_client.post(f"{BASE}{notes_integration}/sync/cancel")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    notes.upstream.page_delay = 0
    again = start_sync(admin_client, notes_integration)
    assert again["sync_job_id"] != job_id and again["message"] == "Sync triggered successfully."
    assert job_ended(admin_client, notes_integration, again["sync_job_id"])["status"] == "completed"


def test_cancel_is_for_admins_and_another_organisations_integration_is_a_404(
    admin_client, notes_integration, org, make_org, make_member, client_for
):
    job = SyncJob.objects.create(organisation=org, integration_id=notes_integration)
    manager = client_for(make_member(org, Role.MANAGER))
    assert manager.post(f"{BASE}{notes_integration}/sync/cancel").status_code == 403
    stranger = client_for(make_member(make_org("Other"), Role.ADMIN))
    assert stranger.post(f"{BASE}{notes_integration}/sync/cancel").status_code == 404
    job.refresh_from_db()
    assert job.status == "pending"
    # A pending job is cancelled too: its task, when it comes, finds nothing to claim.
    assert admin_client.post(f"{BASE}{notes_integration}/sync/cancel").status_code == 202
    job.refresh_from_db()
    assert job.status == "failed" and job.error_message.startswith("Cancelled by ")
