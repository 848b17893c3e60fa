"""The hub served for real on 127.0.0.1 (gunicorn, production static files) on the test database."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from django.conf import settings

from tests.processes import ROOT, LoggedProcess, process_started
from tests.worker_process import test_database_url

SETTINGS_MODULE = "tests.console.server_settings"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveHub(LoggedProcess):
    url: str

    @classmethod
    @contextlib.contextmanager
    def started(
        cls,
        *,
        oauth_provider_url: str,
        timeout: float = 60,
        log_level: str = "warning",
        extra_env: dict[str, str] | None = None,
    ) -> Iterator[LiveHub]:
        """`extra_env` may name another settings module or queue (e.g. the leak test's hub at DEBUG)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        static_root = tempfile.mkdtemp(prefix="tributary-static-")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": test_database_url(),
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "PUBLIC_BASE_URL": url,
            "FRONTEND_ORIGIN": url,
            "STATIC_ROOT": static_root,
            "FAKE_OAUTH_URL": oauth_provider_url,
            "DEBUG": "false",
            # Browser tests log in many times from 127.0.0.1; the login limit has its own tests (tests/hub).
            "AUTH_LOGIN_RATE": "1000/min",
            **(extra_env or {}),
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "hub.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--access-logfile",
            "-",
            "--log-level",
            log_level,
        ]

        def answers(_child) -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            return False

        with process_started(command, env=env, name="console-hub", ready=answers, timeout=timeout) as child:
            yield cls(url=url, process=child.process, log_path=child.log_path)
