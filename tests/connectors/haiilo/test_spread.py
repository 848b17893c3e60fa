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
from tests.connectors.haiilo.test_slices import live_ids, run_job
from tests.connectors.haiilo.test_sync import expected_live
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
    """Runs spread over two parts, two slices at a time each; the env of the worker that takes part."""
    settings.RUN_SLICE_TASKS, settings.RUN_MAX_CONCURRENT_SLICES = 2, 2
    settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS = HEARTBEAT_TIMEOUT
    return {"CELERY_TASK_DEFAULT_QUEUE": own_queue, "SYNC_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT)}


def integration_on(org, haiilo, name: str) -> Integration:
    integration = Integration(organisation=org, type="haiilo", name=name)
    integration.config = HaiiloConnector.validate_config(haiilo.config(page_size=50))
    integration.credentials = {}
    integration.save()
    return integration


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
