"""A worker of the LeanIX tests' own, on its own queue, with short LeanIX polling and run timeout."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings

from hub.celery import app
from tests.fakes.leanix import FakeLeanIX
from tests.worker_process import WorkerProcess

# Short enough that a run that never finishes fails the job in seconds; real runs take 0.15 s here.
RUN_TIMEOUT_SECONDS = 4
LEANIX_ENV = {"LEANIX_RUN_TIMEOUT_SECONDS": str(RUN_TIMEOUT_SECONDS), "LEANIX_POLL_FIRST_SECONDS": "0.05",
              "LEANIX_POLL_MAX_SECONDS": "0.5"}  # fmt: skip


@pytest.fixture(scope="module")
def leanix_worker(django_db_setup, django_db_blocker) -> Iterator[WorkerProcess]:
    """Tasks of these tests go to this worker's queue (not the session worker's), so its LeanIX
    settings are the ones in force: the API enqueues through `task_default_queue`, set here meanwhile."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-leanix-{os.getpid()}"
    # The app reads its configuration under the Django settings' names (namespace CELERY).
    before = app.conf.task_default_queue
    app.conf.CELERY_TASK_DEFAULT_QUEUE = queue
    try:
        with WorkerProcess.started(extra_env={"CELERY_TASK_DEFAULT_QUEUE": queue, **LEANIX_ENV}) as worker:
            yield worker
    finally:
        app.conf.CELERY_TASK_DEFAULT_QUEUE = before


@pytest.fixture
def leanix() -> Iterator[FakeLeanIX]:
    with FakeLeanIX() as fake:
        yield fake
        assert fake.spec.violations == [], fake.spec.violations
