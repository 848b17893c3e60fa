"""Scheduled runs and runs after a source's sync, through a real `celery beat` and a real worker process."""

import contextlib
import os
import re
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from hub.models import Role
from integrations.models import Integration, KnowledgeEntry, SyncJob
from integrations.runs.schedule import runs_due_start
from tests import worker_process
from tests.fakes.shelf import ShelfServer
from tests.processes import process_started
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


@contextlib.contextmanager
def beat_started():
    """A real `celery beat` on the test broker and queue, sending production's start-due-runs entry every
    second (tests/integrations/beat_settings.py)."""
    folder = Path(tempfile.mkdtemp(prefix="beat-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.integrations.beat_settings",
        "DATABASE_URL": worker_process.test_database_url(),
        "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
    }
    command = [sys.executable, "-m", "celery", "-A", "hub", "beat", "-l", "info",
               "-s", str(folder / "schedule"), "--pidfile", str(folder / "beat.pid")]  # fmt: skip
    with process_started(
        command, env=env, name="celery-beat", ready=lambda child: "beat: Starting" in child.log(), timeout=30
    ) as beat:
        yield beat


def finished_jobs(integration_id) -> list[SyncJob]:
    return list(SyncJob.objects.filter(integration_id=integration_id, status__in=["completed", "failed"]))


def job_finished(job_id) -> SyncJob:
    return wait_until(
        lambda: SyncJob.objects.filter(id=job_id, status__in=["completed", "failed"]).first(), what=f"job {job_id}"
    )


def sync_now(client, integration_id) -> SyncJob:
    response = client.post(f"{BASE}{integration_id}/sync")
    assert response.status_code == 202, response.content
    return job_finished(response.json()["sync_job_id"])


def test_beat_starts_a_scheduled_run_that_the_worker_completes_once_per_interval(
    celery_worker_process, admin_client, notes
):
    for n in range(3):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    body = {"type": "notes", "name": "Scheduled", "config": {"base_url": notes.url, "api_key": "notes-key"},
            "sync_interval_minutes": 1}  # fmt: skip
    scheduled = admin_client.post(BASE, body, format="json").json()["id"]
    earlier = len(tick_results(celery_worker_process))
    with beat_started() as beat:
        [job] = wait_until(lambda: finished_jobs(scheduled), what="a scheduled job")
        assert job.status == "completed" and job.triggered_by_id is None and job.entries_created == 3
        # Beat goes on ticking and the worker runs each tick; within the interval none starts anything.
        done = len(tick_results(celery_worker_process))
        wait_until(lambda: len(tick_results(celery_worker_process)) >= done + 3, what="three more ticks run")
        assert "Sending due task start-due-runs (integrations.start_due_runs)" in beat.log()
    results = tick_results(celery_worker_process)[earlier:]
    assert results[0] == 1 and set(results[1:]) == {0}, results
    assert SyncJob.objects.filter(integration_id=scheduled).count() == 1
    assert KnowledgeEntry.objects.filter(integration_id=scheduled).count() == 3


def tick_results(worker) -> list[int]:
    """What each start_due_runs task the worker ran returned (how many runs it started), in order."""
    return [
        int(n) for n in re.findall(r"Task integrations\.start_due_runs\[[^\]]+\] succeeded in \S+: (\d+)", worker.log())
    ]


def test_a_scheduled_run_never_overlaps_a_running_one(celery_worker_process, admin_client, notes, notes_integration):
    Integration.objects.filter(id=notes_integration).update(sync_interval_minutes=1)
    for n in range(6):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    notes.upstream.page_delay = 0.7
    running = admin_client.post(f"{BASE}{notes_integration}/sync").json()["sync_job_id"]
    wait_until(lambda: SyncJob.objects.filter(id=running, status="running").exists(), what="the job running")
    # Due by the clock a day on, but a run is under way: nothing starts.
    assert runs_due_start(now=timezone.now() + timedelta(days=1)) == 0
    assert job_finished(running).status == "completed"
    assert SyncJob.objects.filter(integration_id=notes_integration).count() == 1
    notes.upstream.page_delay = 0
    notes.upstream.put("n9", "Note 9", "new")
    assert runs_due_start(now=timezone.now() + timedelta(minutes=1)) == 1
    [second] = wait_until(
        lambda: [job for job in finished_jobs(notes_integration) if str(job.id) != running], what="the next run"
    )
    assert second.status == "completed" and second.records_synced == 1 and second.triggered_by_id is None


@pytest.fixture
def shelf():
    with ShelfServer() as server:
        yield server


def destination(client, shelf, sources: str) -> str:
    config = {"base_url": shelf.url, "api_key": "shelf-key", "sources": sources}
    body = {"type": "shelf", "name": "Shelf", "config": config, "run_after_sources": True}
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_destination_runs_after_its_source_syncs_and_not_after_a_failed_sync(
    celery_worker_process, admin_client, notes, notes_integration, shelf, make_org, make_member, client_for
):
    published = destination(admin_client, shelf, notes_integration)
    # Another organisation's destination publishing all its sources is never started by ours.
    with ShelfServer() as theirs_shelf:
        theirs = destination(client_for(make_member(make_org("Other"), Role.ADMIN)), theirs_shelf, "")
        notes.upstream.put("n1", "First note", "body")
        notes.upstream.put("n2", "Second note", "body")
        assert sync_now(admin_client, notes_integration).status == "completed"
        [pushed] = wait_until(lambda: finished_jobs(published), what="the destination's run")
        assert pushed.status == "completed" and pushed.triggered_by_id is None
        assert sorted(shelf.upstream.sent_titles()) == ["First note", "Second note"]
        assert pushed.records_imported == 2

        # A sync that changed nothing starts nothing: the destination would find nothing due.
        assert sync_now(admin_client, notes_integration).records_synced == 0
        # A failed sync of the source starts nothing.
        notes.upstream.put("n3", "Third note", "body")
        notes.upstream.api_key = "rotated"
        assert sync_now(admin_client, notes_integration).status == "failed"
        # The next successful sync that wrote something starts it again. The worker runs one task at a
        # time, in order, so a run started by either sync before would have come first: this is its second.
        notes.upstream.api_key = "notes-key"
        assert sync_now(admin_client, notes_integration).entries_created == 1
        wait_until(lambda: len(finished_jobs(published)) == 2, what="the destination's second run")
        assert SyncJob.objects.filter(integration_id=published).count() == 2
        assert sorted(shelf.upstream.sent_titles()) == ["First note", "Second note", "Third note"]
        assert not SyncJob.objects.filter(integration_id=theirs).exists()
        assert theirs_shelf.upstream.batches == []
