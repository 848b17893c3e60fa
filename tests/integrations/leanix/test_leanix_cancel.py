"""Cancelling a LeanIX sync, or deleting its integration, stops the upstream run too."""

from __future__ import annotations

import time

import pytest

from tests.integrations.leanix.conftest import RUN_TIMEOUT_SECONDS
from tests.integrations.leanix.test_leanix_sync import leanix_integration
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


def running_run(leanix):
    deadline = time.monotonic() + 30
    while not any(run.started_at for run in leanix.workspace.runs.values()):
        assert time.monotonic() < deadline, "no LeanIX run started"
        time.sleep(0.05)
    return next(run for run in leanix.workspace.runs.values() if run.started_at)


def stopped(run, before: float) -> bool:
    deadline = time.monotonic() + 30
    while run.stopped_at is None:
        assert time.monotonic() < deadline, "the run was never stopped"
        time.sleep(0.05)
    return run.stopped_at < before


def test_cancelling_a_leanix_sync_stops_its_run_upstream_before_the_timeout_would(leanix_worker, admin_client, leanix):
    leanix.workspace.never_finish = True
    integration = leanix_integration(admin_client, leanix)
    job_id = start_sync(admin_client, integration)["sync_job_id"]
    run = running_run(leanix)
    assert admin_client.post(f"{BASE}{integration}/sync/cancel").status_code == 202
    assert stopped(run, before=run.started_at + RUN_TIMEOUT_SECONDS)  # the cancel, not the timeout
    job = job_ended(admin_client, integration, job_id)
    assert job["status"] == "failed" and job["error_message"].startswith("Cancelled by ")


def test_deleting_the_integration_during_a_run_stops_the_run_upstream(leanix_worker, admin_client, leanix):
    leanix.workspace.never_finish = True
    integration = leanix_integration(admin_client, leanix)
    start_sync(admin_client, integration)
    run = running_run(leanix)
    assert admin_client.delete(f"{BASE}{integration}").status_code == 204
    assert stopped(run, before=run.started_at + RUN_TIMEOUT_SECONDS)
