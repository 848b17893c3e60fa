"""A Haiilo pull spread over worker processes (RUN_SLICE_TASKS): its entity types are claimed by the
run's own worker and by more parts in real Celery workers, written through the one write path under
the job's fencing token, and a slice whose part dies is taken over from its own cursor."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connections
from django.utils import timezone

from connectors.haiilo.connector import HaiiloConnector
from connectors.haiilo.mapping import SUPPORTED_TYPES
from integrations.models import Integration, JobStatus, SliceStatus, SyncJob, SyncJobSlice
from integrations.runs.jobs import sync_jobs_reap_stale
from tests.connectors.haiilo.conftest import start_ids
from tests.connectors.haiilo.test_slices import live_ids
from tests.connectors.haiilo.test_sync import expected_live
from tests.fakes.haiilo import Fault
from tests.waiting import queue_of_its_own, wait_until
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
HEARTBEAT_TIMEOUT = 3


@pytest.fixture
def own_queue(settings) -> Iterator[str]:
    """A queue of this test's own: only the worker it starts takes the parts it sends."""
    with queue_of_its_own(f"{settings.CELERY_TASK_DEFAULT_QUEUE}-spread") as queue:
        yield queue


@pytest.fixture
def spread(settings, own_queue) -> dict[str, str]:
    """Runs spread over two parts, one slice at a time each; the env of the worker that takes part."""
    settings.RUN_SLICE_TASKS, settings.RUN_MAX_CONCURRENT_SLICES = 2, 2
    settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS = HEARTBEAT_TIMEOUT
    return {"CELERY_TASK_DEFAULT_QUEUE": own_queue, "SYNC_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT)}


@pytest.mark.parametrize(
    ("per_run", "tasks", "slices", "expected"),
    [(4, 2, 7, [2, 2]), (4, 3, 7, [2, 1, 1]), (4, 8, 7, [1, 1, 1, 1]), (4, 2, 1, [4]), (1, 2, 7, [1])],
)
def test_the_runs_bound_on_slices_at_once_is_shared_out_over_its_parts(settings, per_run, tasks, slices, expected):
    from integrations.runs.spread import part_concurrency, spread_parts

    settings.RUN_MAX_CONCURRENT_SLICES, settings.RUN_SLICE_TASKS = per_run, tasks
    parts = spread_parts(slices)
    assert [part_concurrency(per_run, parts, number) for number in range(parts)] == expected
    assert part_concurrency(per_run, parts, None) == 1  # a part the reaper sent


def integration_on(org, haiilo, name: str) -> Integration:
    integration = Integration(organisation=org, type="haiilo", name=name)
    integration.config = HaiiloConnector.validate_config(haiilo.config(page_size=50))
    integration.credentials = {}
    integration.save()
    return integration


def run_job(integration: Integration) -> SyncJob:
    """A run whose coordinator is this process; it may end in the other part (which took the final step)."""
    from integrations.runs.engine import sync_job_run

    job = job_of(integration)
    sync_job_run(job_id=str(job.id), org_id=str(integration.organisation_id))
    return job_ended(job)


def job_ended(job: SyncJob) -> SyncJob:
    wait_until(lambda: SyncJob.objects.get(pk=job.pk).status != JobStatus.RUNNING, "the job's end", 60)
    job.refresh_from_db()
    return job


def figures(job: SyncJob) -> tuple:
    """Imported and skipped apart vary with how updates of one entity fall into batches (two in one
    batch count one as skipped), so they are compared summed."""
    return job.records_synced, job.records_imported + job.records_skipped, job.entries_created, job.records_found


def test_a_pull_spread_over_two_workers_stores_what_one_worker_stores(org, haiilo, spread, settings):
    haiilo.tenant.generate(1400, update_share=0.1)
    haiilo.tenant.delay = 0.05  # slices take a while, so the second part gets some of them
    alone = integration_on(org, haiilo, "In one worker")
    settings.RUN_SLICE_TASKS = 1
    in_one = run_job(alone)
    settings.RUN_SLICE_TASKS = 2

    spread_over = integration_on(org, haiilo, "Spread")
    with WorkerProcess.started(extra_env=spread) as worker:
        job = run_job(spread_over)
        assert job.status == JobStatus.COMPLETED, job.error_message

    assert live_ids(spread_over) == live_ids(alone) == expected_live(haiilo.tenant)
    assert figures(job) == figures(in_one)
    assert job.progress["percent"] == 100
    cursors = Integration.objects.get(pk=spread_over.pk).sync_checkpoint["cursors"]
    assert cursors == Integration.objects.get(pk=alone.pk).sync_checkpoint["cursors"]
    slices = SyncJobSlice.objects.filter(job=job)
    assert sorted(slices.values_list("name", flat=True)) == sorted(SUPPORTED_TYPES)
    assert set(slices.values_list("status", flat=True)) == {SliceStatus.CLOSED}
    pids = {row.worker.rsplit(":", 1)[1] for row in slices}
    assert pids == {str(os.getpid()), str(worker.process.pid)}, "both parts ran slices"
    assert sum(row.progress["records_synced"] for row in slices) == job.records_synced
    # Every part's log lines reach the job's log: each slice says what it skipped.
    assert skipped_in_log(job) == skipped_in_log(in_one) > 0


def skipped_in_log(job: SyncJob) -> int:
    lines = [line["message"] for line in job.log if line["message"].startswith("Skipped ")]
    return sum(int(message.split()[1]) for message in lines)


class Beside(threading.Thread):
    """Does `act` in a thread of the test while the run goes on in the test's own thread."""

    def __init__(self, act) -> None:
        super().__init__(daemon=True)
        self.act, self.error = act, None

    def run(self) -> None:
        try:
            self.act()
        except BaseException as exc:  # re-raised by the test
            self.error = exc
        finally:
            connections.close_all()


def slice_of(worker: WorkerProcess, job: SyncJob) -> SyncJobSlice | None:
    """A slice the worker runs and has written a page of."""
    rows = SyncJobSlice.objects.filter(job=job, status=SliceStatus.RUNNING, worker__endswith=f":{worker.process.pid}")
    return next((row for row in rows if (row.checkpoint_progress or {}).get("records_synced")), None)


def job_of(integration: Integration) -> SyncJob:
    return SyncJob.objects.create(organisation=integration.organisation, integration=integration)


def test_a_slice_whose_worker_dies_is_taken_over_from_its_own_cursor(org, haiilo, spread):
    from integrations.runs.engine import sync_job_run

    haiilo.tenant.generate(2100, update_share=0)
    haiilo.tenant.delay = 0.1
    integration, killed = integration_on(org, haiilo, "Spread"), {}
    with WorkerProcess.started(extra_env=spread) as worker:
        job = job_of(integration)

        def kill_mid_slice() -> None:
            row = wait_until(lambda: slice_of(worker, job), "a page written by the worker's part", 60)
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            cursors = Integration.objects.get(pk=integration.pk).sync_checkpoint["cursors"]
            killed.update(name=row.name, cursor=cursors[row.name], mark=len(haiilo.tenant.requests))

        killer = Beside(kill_mid_slice)
        killer.start()
        sync_job_run(job_id=str(job.id), org_id=str(org.id))
        killer.join()
        assert killer.error is None, killer.error

    job = job_ended(job)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert live_ids(integration) == expected_live(haiilo.tenant)
    taken = SyncJobSlice.objects.get(job=job, name=killed["name"])
    assert taken.claims == 2 and taken.worker.endswith(f":{os.getpid()}")
    # It resumed at the cursor its dead part had saved, not from the start of the type (a request the
    # dead part had in flight may be logged after the kill: it started past the cursor).
    later = [path for _, path, _ in haiilo.tenant.requests[killed["mark"] :]]
    assert killed["cursor"]["events"] > 0
    assert min(start_ids(later, f"/events/{killed['name']}")) == killed["cursor"]["events"]


def test_the_reaper_puts_back_a_silent_slice_and_a_new_part_finishes_the_job(org, haiilo, spread):
    haiilo.tenant.generate(700, update_share=0)
    integration = integration_on(org, haiilo, "Spread")
    with WorkerProcess.started(extra_env=spread) as worker:
        now = timezone.now()
        job = SyncJob.objects.create(
            organisation=org, integration=integration, status=JobStatus.RUNNING, fencing_token=5,
            started_at=now, heartbeat_at=now, spread={"base": {}, "concurrency": 1},
        )  # fmt: skip
        silent_since = now - timezone.timedelta(seconds=2 * HEARTBEAT_TIMEOUT)
        SyncJobSlice.objects.create(
            job=job, name="user", status=SliceStatus.RUNNING, claims=1, heartbeat_at=silent_since
        )
        SyncJobSlice.objects.bulk_create(
            SyncJobSlice(job=job, name=name, status=SliceStatus.DONE) for name in SUPPORTED_TYPES if name != "user"
        )
        assert sync_jobs_reap_stale() == 1
        job = job_ended(job)

    assert job.status == JobStatus.COMPLETED, job.error_message
    users = {entry for entry in expected_live(haiilo.tenant) if entry.startswith("user:")}
    assert users and live_ids(integration) == users
    taken = SyncJobSlice.objects.get(job=job, name="user")
    assert taken.claims == 2 and taken.worker.endswith(f":{worker.process.pid}")
    assert job.records_synced == len(haiilo.tenant.events["user"])


def test_a_cancelled_spread_run_writes_nothing_more_in_any_part(org, haiilo, spread):
    from integrations.runs.engine import sync_job_run
    from integrations.runs.jobs import job_cancel

    haiilo.tenant.generate(2100, update_share=0)
    haiilo.tenant.delay = 0.1
    integration = integration_on(org, haiilo, "Spread")
    with WorkerProcess.started(extra_env=spread) as worker:
        job = job_of(integration)
        written: dict[str, int] = {}

        def cancel_mid_run() -> None:
            wait_until(lambda: slice_of(worker, job), "a page written by the worker's part", 60)
            job_cancel(integration_id=integration.pk, organisation_id=org.pk, cancelled_by="a test")
            written["at_cancel"] = len(live_ids(integration))

        canceller = Beside(cancel_mid_run)
        canceller.start()
        outcome = sync_job_run(job_id=str(job.id), org_id=str(org.id))
        canceller.join()
        assert canceller.error is None, canceller.error
        mark = len(haiilo.tenant.requests)
        time.sleep(1.5)  # the worker's part stops at its next write or request
        # At most what was in flight: two parts, one slice each, its page and the one asked ahead.
        assert len(haiilo.tenant.requests) - mark <= 2 * 1 * 2
    assert outcome.status == "lease_lost"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_message == "Cancelled by a test."
    assert len(live_ids(integration)) == written["at_cancel"] < len(expected_live(haiilo.tenant))


def test_a_slice_failing_in_the_other_worker_fails_the_job_and_the_next_run_resumes_it(org, haiilo, spread):
    haiilo.tenant.generate(1400, update_share=0)
    haiilo.tenant.delay = 0.05
    # timeline-item is the last type: in the other part's share.
    haiilo.tenant.faults.append(Fault(count=1, status=403, entity_type="timeline-item", after=3))
    integration = integration_on(org, haiilo, "Spread")
    with WorkerProcess.started(extra_env=spread) as worker:
        failed = run_job(integration)
        assert failed.status == JobStatus.FAILED and "'timeline-item'" in failed.error_message
        assert failed.error_message in [line["message"] for line in failed.log]
        failing = SyncJobSlice.objects.get(job=failed, name="timeline-item")
        assert failing.worker.endswith(f":{worker.process.pid}")
        cursors = Integration.objects.get(pk=integration.pk).sync_checkpoint["cursors"]
        assert cursors["timeline-item"]["events"] > 0  # what it wrote before the 403 is kept
        assert 0 < len(live_ids(integration)) < len(expected_live(haiilo.tenant))

        resumed = run_job(integration)
    assert resumed.status == JobStatus.COMPLETED, resumed.error_message
    assert live_ids(integration) == expected_live(haiilo.tenant)
