"""Waiting in tests that drive real processes: for a condition, for a sync job to end, on a queue of one's own.

Bounded waits that fail with what was awaited, never timed assertions: the bound only stops a hung test."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from hub.celery import app

T = TypeVar("T")
BASE = "/api/v1/integrations/"
ENDED = ("completed", "failed")


def wait_until(condition: Callable[[], T], what: str = "the condition", timeout: float = 30.0, poll: float = 0.1) -> T:
    """The first truthy value of `condition()`; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if value := condition():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def job_ended(client, integration_id: str, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job as Knora's `GET /history/{id}` shows it, once completed or failed."""

    def ended() -> dict[str, Any] | None:
        job = client.get(f"{BASE}{integration_id}/history/{job_id}").json()
        return job if job["status"] in ENDED else None

    return wait_until(ended, f"job {job_id} to finish", timeout, poll=0.2)


def sync_ended(client, integration_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Start a sync through the API (202) and wait for its job to end; the job with its log."""
    started = client.post(f"{BASE}{integration_id}/sync")
    assert started.status_code == 202, started.content
    return job_ended(client, integration_id, started.json()["sync_job_id"], timeout)


@contextlib.contextmanager
def queue_of_its_own(name: str) -> Iterator[str]:
    """Tasks sent meanwhile go to `name` (and `name`-runs): no session worker takes them."""
    saved = app.conf.CELERY_TASK_DEFAULT_QUEUE  # the app reads Django's name first
    app.conf.CELERY_TASK_DEFAULT_QUEUE = name
    try:
        yield name
    finally:
        app.conf.CELERY_TASK_DEFAULT_QUEUE = saved
