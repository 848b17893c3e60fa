"""Confluence spaces spread over worker processes (RUN_SLICE_TASKS): the run's own worker and a part
in a real Celery worker pull the spaces, and the final step (which deletes what no space holds any
more) runs once, after both."""

import os

import pytest

from integrations.models import Integration, JobStatus, KnowledgeEntry, SliceStatus, SyncJob, SyncJobSlice
from tests.connectors.haiilo.test_spread import own_queue, spread  # noqa: F401 (fixtures)
from tests.connectors.haiilo.test_spread import run_job as run_spread_job
from tests.fakes.confluence_fixtures import seed_spaces
from tests.integrations.confluence.test_sync_jobs import wiki  # noqa: F401 (fixture)
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def run_job(integration_id: str) -> SyncJob:
    return run_spread_job(Integration.objects.get(pk=integration_id))


def test_spaces_spread_over_two_workers_keep_a_moved_page_and_delete_a_trashed_one(atlassian, wiki, spread, settings):  # noqa: F811
    settings.RUN_MAX_CONCURRENT_SLICES = 2  # one space at a time in each of the two parts
    seed_spaces(atlassian, {"ENG": 3, "HR": 2, "OPS": 2})
    model = atlassian.model
    # The first space answers a second late, so the other part claims the others meanwhile.
    model.fail(f"/spaces/{model.space_by_key('ENG').id}/pages", 429, headers={"Retry-After": "1"}, times=1)
    with WorkerProcess.started(extra_env=spread) as worker:
        first = run_job(wiki)
        assert first.status == JobStatus.COMPLETED, first.error_message
        assert (first.records_synced, first.entries_created) == (7, 7)
        pids = {row.worker.rsplit(":", 1)[1] for row in SyncJobSlice.objects.filter(job=first)}
        assert pids == {str(os.getpid()), str(worker.process.pid)}

        moved = next(p for p in model.pages.values() if p.current.title == "Page ENG-0")
        gone = next(p for p in model.pages.values() if p.current.title == "Page ENG-1")
        moved.space_id = model.space_by_key("HR").id
        model.edit_page(moved.id, body="<p>Moved</p>")
        model.trash_page(gone.id)
        second = run_job(wiki)

    assert second.status == JobStatus.COMPLETED, second.error_message
    assert (second.records_synced, second.records_found, second.progress["entries_deleted"]) == (1, 1, 1)
    live = KnowledgeEntry.objects.filter(integration_id=wiki, deleted_at__isnull=True)
    assert live.get(external_id=moved.id).metadata["space_key"] == "HR" and live.count() == 6
    assert KnowledgeEntry.objects.get(integration_id=wiki, external_id=gone.id).deleted_at is not None
    checkpoint = Integration.objects.get(pk=wiki).sync_checkpoint["spaces"]
    assert len(checkpoint) == 3 and all(not space.get("gone") for space in checkpoint.values())
    assert set(SyncJobSlice.objects.filter(job=second).values_list("status", flat=True)) == {SliceStatus.CLOSED}
