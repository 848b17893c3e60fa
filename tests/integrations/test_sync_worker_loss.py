"""A worker SIGKILLed in the middle of a sync: the reaper resumes the job, another worker completes it.

Runs on the broker the tests are configured with (the embedded one by default; Redis with
CELERY_BROKER_URL=redis://...)."""

import signal
import time
from collections.abc import Iterator

import pytest
from django.db.models import Count

from integrations.models import JobStatus, KnowledgeEntry, SyncJob
from integrations.runs.jobs import sync_jobs_reap_stale
from tests.connectors.haiilo.conftest import create_integration, run_sync
from tests.fakes.haiilo import FakeHaiilo, Fault
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended, queue_of_its_own, wait_until
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
RECORDS = 3000
HEARTBEAT_TIMEOUT = 3


@pytest.fixture
def own_queue(settings) -> Iterator[str]:
    """A queue of this test's own, so the session's worker (if one runs) takes none of its tasks."""
    with queue_of_its_own(f"{settings.CELERY_TASK_DEFAULT_QUEUE}-worker-loss") as queue:
        yield queue


def test_a_job_whose_worker_is_killed_mid_sync_is_resumed_and_completes_with_every_entry_once(
    admin_client, notes, notes_integration, own_queue, settings
):
    notes.upstream.page_size, notes.upstream.page_delay = 50, 0.05
    for n in range(RECORDS):
        notes.upstream.put(f"n{n}", f"Note {n}", f"Body of note {n}")
    settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS = HEARTBEAT_TIMEOUT  # the reaper runs in this process
    env = {"CELERY_TASK_DEFAULT_QUEUE": own_queue, "SYNC_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT)}
    entries = KnowledgeEntry.objects.filter(integration_id=notes_integration)

    with WorkerProcess.started(extra_env=env) as first:
        job_id = start_sync(admin_client, notes_integration)["sync_job_id"]
        wait_until(lambda: entries.exists(), "the first batch", 30)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    written_before = entries.count()
    job = SyncJob.objects.get(id=job_id)
    assert 0 < written_before < RECORDS and job.status == JobStatus.RUNNING

    # Its heartbeat stops; until it is older than the timeout the reaper leaves the job alone.
    assert sync_jobs_reap_stale() == 0
    time.sleep(HEARTBEAT_TIMEOUT + 0.5)
    with WorkerProcess.started(extra_env=env) as second:
        assert sync_jobs_reap_stale() == 1
        finished = job_ended(admin_client, notes_integration, job_id, timeout=40)
        assert "Task integrations.run_sync_job[" in second.log()

    assert finished["status"] == "completed", finished
    assert entries.count() == RECORDS
    assert not entries.values("external_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    # The history tells the truth: every record counted once, every entry created once, two attempts.
    assert (finished["records_found"], finished["records_synced"], finished["records_imported"]) == (RECORDS,) * 3
    assert finished["entries_created"] == RECORDS and finished["records_skipped"] == 0
    assert (finished["progress"]["attempts"], finished["progress"]["resumes"]) == (2, 1)
    log = SyncJob.objects.get(id=job_id).log
    assert any("(worker lost); resuming from the last checkpoint" in line["message"] for line in log)


def test_an_upstreams_long_retry_after_is_capped_and_the_log_says_the_wait_it_got(admin_client, own_queue):
    env = {"CELERY_TASK_DEFAULT_QUEUE": own_queue, "SYNC_RETRY_COUNTDOWN_MAX_SECONDS": "1", "HAIILO_MAX_ATTEMPTS": "1"}
    with FakeHaiilo() as haiilo, WorkerProcess.started(extra_env=env):
        haiilo.tenant.generate(20, update_share=0)
        haiilo.tenant.faults.append(Fault(count=1, status=429, headers={"Retry-After": "3600"}, entity_type="file"))
        job = run_sync(admin_client, create_integration(admin_client, haiilo), timeout=30)
    assert job["status"] == "completed", job
    assert any("Retrying in 1 s" in line["message"] for line in job["log"]), job["log"]
