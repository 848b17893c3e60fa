"""Which Celery queue a task goes to: long runs to RUNS_QUEUE, everything else to the default queue.

A router (CELERY_TASK_ROUTES) rather than a static map, so the queue is read when the task is sent:
the reaper's and a retry's re-sends land on the runs queue too, and tests may point it elsewhere."""

from __future__ import annotations

from typing import Any

from django.conf import settings

# Tasks that run a connector for as long as the upstream takes. Add any new one here.
LONG_RUN_TASKS = frozenset({"integrations.run_sync_job", "integrations.run_sync_slices"})


def runs_queue() -> str:
    return settings.RUNS_QUEUE


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any) -> dict | None:
    """Celery's router signature; None leaves a task on CELERY_TASK_DEFAULT_QUEUE."""
    if name in LONG_RUN_TASKS:
        return {"queue": runs_queue()}
    return None
