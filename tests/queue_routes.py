"""The tests' router: the runs queue follows the default queue the app uses now.

Tests that give their worker a queue of their own set `app.conf.CELERY_TASK_DEFAULT_QUEUE` (and pass
it to the worker, whose settings_test derives RUNS_QUEUE = "<queue>-runs"); their runs go to
"<queue>-runs" without each of them knowing about the second queue."""

from __future__ import annotations

from typing import Any

from hub.queues import LONG_RUN_TASKS


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any) -> dict | None:
    from hub.celery import app

    if name in LONG_RUN_TASKS:
        return {"queue": f"{app.conf.task_default_queue}-runs"}
    return None
