"""A task makes a round trip through a real Celery worker process on the configured broker."""

import time

import pytest
from django.conf import settings

from hub.tasks import worker_ping

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_task_round_trip_through_a_real_worker(celery_worker_process, make_org):
    organisation = make_org("Seen By The Worker")
    result = worker_ping.delay(str(organisation.id))
    # The worker set its switch interval as it started (hub/celery.py; Python's default is 5 ms).
    assert result.get(timeout=60) == {
        "pong": True,
        "organisation_name": "Seen By The Worker",
        "switch_interval_seconds": pytest.approx(settings.WORKER_SWITCH_INTERVAL_SECONDS),
    }
    assert settings.WORKER_SWITCH_INTERVAL_SECONDS == 0.00005
    # The task really ran in the worker process, not eagerly in this one. The worker logs the
    # line just after it stores the result, so give it a moment.
    line = f"Task hub.worker_ping[{result.id}] succeeded"
    deadline = time.monotonic() + 10
    while line not in celery_worker_process.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert line in celery_worker_process.log()
