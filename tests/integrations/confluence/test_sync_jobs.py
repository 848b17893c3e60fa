"""Confluence sync jobs in a real Celery worker: full sync, then incremental with pruning."""

import pytest

from integrations.models import Integration, KnowledgeEntry
from tests.fakes.confluence_fixtures import seed_spaces
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


@pytest.fixture
def wiki(admin_client, atlassian, basic_config) -> str:
    response = admin_client.post(BASE, {"type": "confluence", "name": "Wiki", "config": basic_config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def sync(client, integration_id: str) -> dict:
    return job_ended(client, integration_id, start_sync(client, integration_id)["sync_job_id"])


def test_full_then_incremental_sync_updates_changed_pages_and_tombstones_gone_ones(
    celery_worker_process, admin_client, atlassian, wiki
):
    seed_spaces(atlassian, {"ENG": 4, "HR": 2})
    atlassian.model.add_page("ENG", "Tables", "<table><tr><th>Key</th><th>Value</th></tr>"
                             "<tr><td>a</td><td>1</td></tr></table>")  # fmt: skip
    first = sync(admin_client, wiki)
    assert first["status"] == "completed", first
    assert (first["records_synced"], first["records_imported"], first["entries_created"]) == (7, 7, 7)
    entry = KnowledgeEntry.objects.get(integration_id=wiki, title="Tables")
    assert entry.content == "Key | Value\na | 1" and entry.html.startswith("<table>")
    assert entry.url.startswith(f"{atlassian.site_url}/wiki/spaces/ENG/pages/") and entry.metadata["version"] == 1

    pages = {p.current.title: p for p in atlassian.model.pages.values()}
    atlassian.model.edit_page(pages["Page ENG-0"].id, body="<p>Second edition</p>")
    atlassian.model.trash_page(pages["Page ENG-1"].id)
    atlassian.model.purge_page(pages["Page HR-0"].id)
    atlassian.model.requests.clear()
    second = sync(admin_client, wiki)
    assert second["status"] == "completed", second
    assert (second["records_synced"], second["records_found"], second["entries_created"]) == (1, 1, 0)
    assert second["progress"]["entries_deleted"] == 2
    assert sum("body-format=storage" in path for _, path in atlassian.model.requests) == 1
    entries = {e.title: e for e in KnowledgeEntry.objects.filter(integration_id=wiki)}
    assert entries["Page ENG-0"].content == "Second edition" and entries["Page ENG-0"].metadata["version"] == 2
    assert entries["Page ENG-1"].deleted_at is not None and entries["Page HR-0"].deleted_at is not None
    assert entries["Page ENG-2"].deleted_at is None
    assert Integration.objects.get(id=wiki).status == "active"


def test_revoked_api_token_fails_the_job_with_the_status(celery_worker_process, admin_client, atlassian, wiki):
    atlassian.model.api_token = "revoked"
    job = sync(admin_client, wiki)
    assert job["status"] == "failed" and "401" in job["error_message"]
    assert Integration.objects.get(id=wiki).status == "error"


def test_429_mid_sync_is_waited_out_in_the_worker_and_the_job_completes(
    celery_worker_process, admin_client, atlassian, wiki
):
    seed_spaces(atlassian, {"ENG": 2})
    space = atlassian.model.space_by_key("ENG")
    atlassian.model.fail(f"/spaces/{space.id}/pages", 429, headers={"Retry-After": "1"}, times=2)
    job = sync(admin_client, wiki)
    assert job["status"] == "completed" and job["records_imported"] == 2
    assert atlassian.model.answer_statuses.count(429) == 2


def test_spaces_pulled_at_once_keep_a_page_that_moved_and_delete_one_that_went(
    celery_worker_process, admin_client, atlassian, wiki
):
    # The worker pulls the spaces as concurrent slices: a page that left ENG for HR must survive
    # whichever space is read first, and a page trashed in ENG must go.
    seed_spaces(atlassian, {"ENG": 3, "HR": 2, "OPS": 2})
    assert sync(admin_client, wiki)["status"] == "completed"
    model = atlassian.model
    moved = next(p for p in model.pages.values() if p.current.title == "Page ENG-0")
    gone = next(p for p in model.pages.values() if p.current.title == "Page ENG-1")
    moved.space_id = model.space_by_key("HR").id
    model.edit_page(moved.id, body="<p>Moved</p>")
    model.trash_page(gone.id)
    second = sync(admin_client, wiki)
    assert second["status"] == "completed", second
    live = KnowledgeEntry.objects.filter(integration_id=wiki, deleted_at__isnull=True)
    assert live.filter(external_id=moved.id).exists()
    assert live.get(external_id=moved.id).metadata["space_key"] == "HR"
    assert KnowledgeEntry.objects.get(integration_id=wiki, external_id=gone.id).deleted_at is not None
    checkpoint = Integration.objects.get(pk=wiki).sync_checkpoint["spaces"]
    assert all(not space.get("gone") for space in checkpoint.values())
