"""The hub served for real on 127.0.0.1 (gunicorn, production static files) on the test database."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings

from tests.worker_process import ROOT, test_database_url

SETTINGS_MODULE = "tests.console.server_settings"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveHub:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @classmethod
    @contextlib.contextmanager
    def started(cls, *, oauth_provider_url: str, timeout: float = 60) -> Iterator[LiveHub]:
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
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
        log_file = tempfile.NamedTemporaryFile(prefix="console-hub-", suffix=".log", delete=False)
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
            "warning",
        ]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        hub = cls(url=url, process=process, log_path=Path(log_file.name))
        try:
            hub._wait_ready(timeout)
            yield hub
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The hub exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"The hub did not answer after {timeout}s:\n{self.log()}")
