"""RUNS_PER_ORGANISATION_MAX: a job of an organisation that runs as many jobs as it may stays pending
(deferred, no attempt counted) while other organisations' jobs run; it runs once a slot frees, and
after the bound of its wait it runs anyway. The engine is called in this process (the real worker's
side of it is tests/reliability/test_slow_tenant.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from hub.celery import app
from hub.models import Role
from hub.queues import route_task
from integrations.models import JobStatus, SyncJob
from integrations.runs.engine import DEFER_MAX_SECONDS, DEFER_MIN_SECONDS, sync_job_run
from integrations.runs.jobs import sync_jobs_reap_stale
from integrations.tasks import run_sync_job
from tests.waiting import queue_of_its_own

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


@pytest.fixture
def notes_of(notes, client_for, make_member):
    """notes_of(org, name): a notes integration of that organisation, made through the API."""

    def make(organisation, name: str) -> str:
        client = client_for(make_member(organisation, Role.ADMIN))
        body = {"type": "notes", "name": name, "config": {"base_url": notes.url, "api_key": "notes-key"}}
        response = client.post(BASE, body, format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return make


def job_of(organisation, integration_id: str, status: str = JobStatus.PENDING, **columns) -> SyncJob:
    return SyncJob.objects.create(organisation=organisation, integration_id=integration_id, status=status, **columns)


def running_job_of(organisation, integration_id: str, **columns) -> SyncJob:
    return job_of(organisation, integration_id, JobStatus.RUNNING, heartbeat_at=timezone.now(), **columns)


def run(job: SyncJob, **kwargs):
    return sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id), **kwargs)


@pytest.fixture
def busy(settings, make_org, notes, notes_of):
    """Organisation "Busy" at its cap of one running job, with a second job pending."""
    settings.RUNS_PER_ORGANISATION_MAX = 1
    notes.upstream.put("n1", "Note 1", "Body 1")
    organisation = make_org("Busy")
    running = running_job_of(organisation, notes_of(organisation, "Busy one"))
    waiting = job_of(organisation, notes_of(organisation, "Busy two"))
    return organisation, running, waiting


def test_a_job_over_its_organisations_cap_stays_pending_without_an_attempt(busy):
    _, running, waiting = busy

    outcome = run(waiting)

    assert outcome.status == "deferred" and outcome.retry_in is None
    assert DEFER_MIN_SECONDS <= outcome.defer_in <= DEFER_MAX_SECONDS
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.started_at, waiting.fencing_token) == (
        JobStatus.PENDING, 0, None, 0
    )  # fmt: skip


def test_a_deferred_job_is_not_taken_for_a_lost_one_by_the_reaper(busy, settings):
    # Its task is alive, sent again after each try: enqueueing it once more would only double the tries.
    _, _, waiting = busy
    settings.SYNC_PENDING_TIMEOUT_SECONDS = 60
    SyncJob.objects.filter(pk=waiting.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    assert run(waiting).status == "deferred"

    assert sync_jobs_reap_stale() == 0
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.PENDING


def test_another_organisations_job_runs_while_one_is_at_its_cap(busy, make_org, notes_of):
    other = make_org("Other")
    job = job_of(other, notes_of(other, "Other notes"))

    assert run(job).status == JobStatus.COMPLETED


def test_the_deferred_job_runs_once_its_organisations_running_job_ends(busy):
    _, running, waiting = busy
    assert run(waiting).status == "deferred"
    SyncJob.objects.filter(pk=running.pk).update(status=JobStatus.COMPLETED, completed_at=timezone.now())

    assert run(waiting).status == JobStatus.COMPLETED
    waiting.refresh_from_db()
    assert waiting.attempts == 1


def test_a_running_job_whose_worker_went_silent_takes_no_slot(busy, settings):
    _, running, waiting = busy
    stale = timezone.now() - 2 * timezone.timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS)
    SyncJob.objects.filter(pk=running.pk).update(heartbeat_at=stale)

    assert run(waiting).status == JobStatus.COMPLETED


def test_the_wait_is_bounded_a_job_waiting_past_the_bound_runs_despite_the_cap(busy, settings):
    _, running, waiting = busy
    waited_since = time.time() - settings.CELERY_TASK_TIME_LIMIT - 1

    assert run(waiting, waiting_since=waited_since).status == JobStatus.COMPLETED


def test_the_wait_between_two_tries_grows_with_the_wait_up_to_its_maximum(busy):
    _, running, waiting = busy
    first = run(waiting).defer_in
    later = run(waiting, waiting_since=time.time() - 3600).defer_in

    assert first == DEFER_MIN_SECONDS and later == DEFER_MAX_SECONDS


def test_sync_runs_go_to_the_runs_queue_and_everything_else_to_the_default_one(settings):
    settings.RUNS_QUEUE = "runs-here"
    assert route_task("integrations.run_sync_job", (), {}, {}) == {"queue": "runs-here"}
    for short in ("integrations.reap_stale_sync_jobs", "integrations.start_due_runs",
                  "integrations.prune_sync_history", "webhooks.prune_deliveries"):  # fmt: skip
        assert route_task(short, (), {}, {}) is None


@pytest.fixture
def own_queue(settings) -> Iterator[str]:
    """A queue nobody serves (no session worker takes the message this test reads back)."""
    with queue_of_its_own(f"{settings.CELERY_TASK_DEFAULT_QUEUE}-fairness") as queue:
        yield queue


def test_the_task_of_a_deferred_job_is_sent_again_later_to_the_runs_queue_keeping_its_retry_count(busy, own_queue):
    _, running, waiting = busy
    job_args = (str(waiting.id), str(waiting.organisation_id))

    assert run_sync_job.apply(job_args, retries=2).get() == "deferred"

    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(f"{own_queue}-runs")
        message = queue.get(timeout=10)
        message.ack()
        queue.close()
    args, kwargs, _ = message.decode()
    assert message.headers["task"] == "integrations.run_sync_job" and tuple(args) == job_args
    assert message.headers["retries"] == 2  # waiting is not a retry: the count it had goes on
    assert message.headers["eta"] is not None  # later, not at once
    assert kwargs["waiting_since"] is not None  # the bound of the wait goes on from the first try
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (JobStatus.PENDING, 0)
