"""Jobs owned through a lease: fenced writes, heartbeats (also while waiting on an upstream), the reaper."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.base import Checkpoint, Record
from connectors.http import UpstreamHttpClient
from hub.celery import app
from integrations.models import JobStatus, KnowledgeEntry, SyncJob
from integrations.runs import jobs
from integrations.runs.engine import NOT_ENQUEUED, sync_job_run
from integrations.runs.jobs import sync_jobs_reap_stale
from tests.fakes.scripted_http import Scripted, ScriptedHttpServer
from tests.integrations import test_sync_service
from tests.integrations.test_sync_service import ScriptedSource, pending_job

scripted = test_sync_service.scripted  # the scripted source's fixture

pytestmark = pytest.mark.django_db


def run(job: SyncJob, **kwargs):
    return sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id), **kwargs)


def silence(job: SyncJob, seconds: float) -> None:
    """As if the job's worker had stopped heartbeating `seconds` ago."""
    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_a_stale_workers_late_writes_are_refused_and_the_reapers_failed_stays(scripted, settings):
    job = pending_job(scripted)

    def pull() -> Iterator:
        yield Record("before", "Before", "written while the lease was ours")
        yield Checkpoint({"page": 1})
        # The worker stalls; the reaper finds it silent and (resumed too often) fails the job.
        SyncJob.objects.filter(pk=job.pk).update(resumes=settings.SYNC_MAX_RESUMES)
        silence(job, settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 1)
        assert sync_jobs_reap_stale() == 1
        yield Record("after", "After", "a late write of a worker that lost its lease")
        yield Checkpoint({"page": 2})

    ScriptedSource.script = pull()
    outcome = run(job)
    job.refresh_from_db()
    scripted.refresh_from_db()
    assert outcome.status == "lease_lost"
    assert job.status == JobStatus.FAILED and "worker lost" in job.error_message
    assert list(KnowledgeEntry.objects.filter(integration=scripted).values_list("external_id", flat=True)) == ["before"]
    assert scripted.sync_checkpoint == {"page": 1} and scripted.status == "error"


def test_a_job_silent_past_the_heartbeat_timeout_is_put_back_to_resume_from_its_checkpoint(scripted, settings):
    job = pending_job(scripted)
    at_checkpoint = {"records_synced": 4, "records_imported": 4, "entries_created": 4}
    SyncJob.objects.filter(pk=job.pk).update(
        status="running",
        fencing_token=1,
        attempts=1,
        progress={"records_synced": 9, "records_imported": 9, "entries_created": 6},
        checkpoint_progress=at_checkpoint,
    )
    silence(job, settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert sync_jobs_reap_stale() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.fencing_token == 2 and job.resumes == 1
    assert "resuming from the last checkpoint" in job.log[-1]["message"]

    ScriptedSource.script = [Record("e", "E", "the rest")]
    assert run(job).status == "completed"
    job.refresh_from_db()
    # The records seen since the checkpoint were pulled again and counted once; the entries created
    # before the worker was lost stay counted.
    assert (job.records_synced, job.records_imported, job.entries_created) == (5, 5, 7)
    assert (job.progress["attempts"], job.progress["resumes"]) == (2, 1)


def test_a_job_with_a_live_heartbeat_or_a_pending_one_in_a_busy_queue_is_not_reaped(scripted, settings):
    running = pending_job(scripted)
    SyncJob.objects.filter(pk=running.pk).update(status="running", updated_at=timezone.now() - timedelta(hours=1))
    silence(running, settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS - 5)
    assert sync_jobs_reap_stale() == 0
    waiting = timezone.now() - timedelta(seconds=settings.SYNC_PENDING_TIMEOUT_SECONDS - 5)
    SyncJob.objects.filter(pk=running.pk).update(status="pending", heartbeat_at=None, updated_at=waiting)
    assert sync_jobs_reap_stale() == 0
    running.refresh_from_db()
    assert running.status == JobStatus.PENDING


def test_a_job_pending_past_the_bound_lost_its_task_and_is_enqueued_again_once_per_bound(
    scripted, settings, django_capture_on_commit_callbacks
):
    """Redis keeps no queue over a restart: a pending job nobody took within SYNC_PENDING_TIMEOUT_SECONDS
    gets a new task (tests/reliability/test_dependency_restarts.py runs one through a real worker)."""
    job = pending_job(scripted)
    lost_at = timezone.now() - timedelta(seconds=settings.SYNC_PENDING_TIMEOUT_SECONDS + 5)
    SyncJob.objects.filter(pk=job.pk).update(updated_at=lost_at)
    with django_capture_on_commit_callbacks(execute=False) as enqueues:
        assert sync_jobs_reap_stale() == 1
    assert len(enqueues) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.updated_at > lost_at
    assert sync_jobs_reap_stale() == 0  # not again until another bound has passed


def test_a_redelivered_task_does_nothing_while_the_job_is_owned(scripted, settings):
    job = pending_job(scripted)
    SyncJob.objects.filter(pk=job.pk).update(status="running", fencing_token=3, heartbeat_at=timezone.now())
    assert run(job).status == "skipped"
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.fencing_token == 3


def test_a_redelivered_task_takes_over_a_job_whose_worker_went_silent(scripted, settings):
    job = pending_job(scripted)
    SyncJob.objects.filter(pk=job.pk).update(status="running", fencing_token=1, attempts=1)
    silence(job, settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 1)
    ScriptedSource.script = [Record("a", "A", "alpha")]
    assert run(job).status == "completed"
    job.refresh_from_db()
    assert job.fencing_token == 2 and (job.progress["attempts"], job.progress["resumes"]) == (2, 1)
    assert any("worker was lost" in line["message"] for line in job.log)


def test_a_job_heartbeats_while_the_http_layer_waits_out_a_retry_after(scripted, monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_INTERVAL", 0.0)
    job = pending_job(scripted)
    beats, sleeps = [], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        beats.append(SyncJob.objects.get(pk=job.pk).heartbeat_at)

    with ScriptedHttpServer() as upstream:
        upstream.script("/items", Scripted(429, {"Retry-After": "12"}), Scripted(200, body={"ok": True}))

        def pull() -> Iterator:
            with UpstreamHttpClient(base_url=upstream.url, allow_private=True, sleep=sleep) as client:
                client.get_json("/items")
            yield Record("a", "A", "alpha")

        ScriptedSource.script = pull()
        assert run(job).status == "completed"
    assert sleeps == [5.0, 5.0, 2.0]
    assert len(set(beats)) == 3 and beats == sorted(beats)


@pytest.fixture
def unreachable_broker():
    """The app's producer pointed at a port nothing listens on, as when Redis is down."""
    # The embedded broker names its transport (hub.broker), which would win over the URL's scheme; the
    # app reads Django's name of the setting first.
    saved = app.conf.broker_write_url, app.conf.get("CELERY_BROKER_TRANSPORT")
    app.conf.broker_write_url, app.conf.CELERY_BROKER_TRANSPORT = "redis://127.0.0.1:9/0", None
    app._pool, app.amqp._producer_pool = None, None
    yield
    app.conf.broker_write_url, app.conf.CELERY_BROKER_TRANSPORT = saved
    app._pool, app.amqp._producer_pool = None, None


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit, as in production
def test_a_sync_the_broker_refuses_answers_503_and_leaves_no_pending_job(
    admin_client, notes_integration, unreachable_broker
):
    response = admin_client.post(f"/api/v1/integrations/{notes_integration}/sync")
    assert response.status_code == 503, response.content
    assert response.json() == {"error": {"code": "SERVICE_UNAVAILABLE", "message": NOT_ENQUEUED}}
    job = SyncJob.objects.get(integration_id=notes_integration)
    assert job.status == JobStatus.FAILED and job.error_message == NOT_ENQUEUED
    assert not SyncJob.objects.filter(integration_id=notes_integration, status__in=["pending", "running"]).exists()
