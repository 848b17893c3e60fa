"""Celery's time limits stop a sync that runs too long, and they sit below the broker's redelivery.

The session's worker runs the solo pool, where Celery cannot enforce time limits; this test starts a
prefork worker of its own with a 2 s soft limit, on the configured broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integrations.test_sync_jobs import start_sync
from tests.integrations.test_sync_worker_loss import own_queue  # noqa: F401 (a fixture)
from tests.waiting import job_ended
from tests.worker_process import ROOT, WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_sync_past_its_soft_time_limit_fails_saying_so_and_the_integration_shows_the_error(
    own_queue,  # noqa: F811
    admin_client,
    notes,
    notes_integration,
):
    for n in range(40):
        notes.upstream.put(f"n{n}", f"Note {n}", "body")
    notes.upstream.page_delay = 0.5  # 20 pages of 2: ten seconds, five times the limit
    limits = {
        "CELERY_TASK_SOFT_TIME_LIMIT": "2",
        "CELERY_TASK_TIME_LIMIT": "30",
        "CELERY_TASK_DEFAULT_QUEUE": own_queue,
    }
    with WorkerProcess.started(extra_env=limits, pool="prefork") as worker:
        job = job_ended(admin_client, notes_integration, start_sync(admin_client, notes_integration)["sync_job_id"])
    assert job["status"] == "failed", job
    assert job["error_message"] == "The sync ran past its time limit and was stopped."
    assert 0 < job["progress"]["records_synced"] < 40  # stopped part way, what it had written kept
    assert "Soft time limit (2s) exceeded" in worker.log()
    listed = admin_client.get("/api/v1/integrations/").json()["integrations"][0]
    assert listed["status"] == "error"


def test_the_time_limits_and_the_countdown_cap_sit_below_the_redis_visibility_timeout():
    """As production reads them: hub.settings with a Redis broker, defaults and an operator's values."""
    probe = (
        "from django.conf import settings as s; import json; print(json.dumps([s.CELERY_TASK_SOFT_TIME_LIMIT, "
        "s.CELERY_TASK_TIME_LIMIT, s.SYNC_RETRY_COUNTDOWN_MAX_SECONDS, "
        "s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], "
        "s.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS['visibility_timeout']]))"
    )
    for extra in ({}, {"CELERY_TASK_TIME_LIMIT": "600"}):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "DEBUG": "true",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            **extra,
        }
        for name in ("CELERY_TASK_SOFT_TIME_LIMIT", "BROKER_VISIBILITY_TIMEOUT"):
            env.pop(name, None)
        command = [sys.executable, "-c", f"import django; django.setup(); {probe}"]
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
        soft, hard, countdown_cap, visibility, result_visibility = json.loads(out.stdout.strip().splitlines()[-1])
        assert soft < hard < visibility == result_visibility, (extra, soft, hard, visibility)
        assert countdown_cap < visibility
