"""Starts a real Celery worker process that uses the test database and the configured broker."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from tests.processes import ROOT, LoggedProcess, process_started

__all__ = ["ROOT", "WorkerProcess", "test_database_url"]


def test_database_url() -> str:
    """DATABASE_URL of the database the tests run on (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# The queues a test worker serves, by role: its default queue and the runs queue named after it
# (hub/settings_test.py: RUNS_QUEUE = "<default queue>-runs").
QUEUE_ROLES = ("default", "runs")


def queue_names(default_queue: str, roles: Sequence[str]) -> list[str]:
    names = {"default": default_queue, "runs": f"{default_queue}-runs"}
    return [names[role] for role in roles]


@dataclass
class WorkerProcess(LoggedProcess):
    @classmethod
    @contextlib.contextmanager
    def started(
        cls,
        timeout: float = 60,
        *,
        log_level: str = "info",
        extra_env: dict[str, str] | None = None,
        pool: str = "solo",
        queues: Sequence[str] = QUEUE_ROLES,
        concurrency: int = 1,
    ) -> Iterator[WorkerProcess]:
        """`extra_env` may name another settings module or queue (e.g. the leak test's worker at DEBUG);
        `pool="prefork"` runs tasks in a child process, where Celery enforces the time limits; `queues`
        ("default", "runs" or both, the default) says which of the two queues this worker serves."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "hub.settings_test",
            "DATABASE_URL": test_database_url(),
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            **(extra_env or {}),
        }
        names = queue_names(env["CELERY_TASK_DEFAULT_QUEUE"], queues)
        command = [
            sys.executable, "-m", "celery", "-A", "hub", "worker",
            f"--pool={pool}", f"--concurrency={concurrency}", "-l", log_level, "-Q", ",".join(names),
            "-n", f"test-{os.getpid()}-{'+'.join(names)}@%h",
        ]  # fmt: skip
        with process_started(
            command, env=env, name="celery-worker", ready=lambda child: " ready." in child.log(), timeout=timeout
        ) as child:
            yield cls(process=child.process, log_path=child.log_path)
