"""Real processes for tests (a Celery worker, the hub under gunicorn): start, wait until ready, stop."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LoggedProcess:
    """A child process whose output goes to a log file the test can read."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def process_started(
    command: list[str], *, env: dict[str, str], name: str, ready: Callable[[LoggedProcess], bool], timeout: float
) -> Iterator[LoggedProcess]:
    """Run `command` from the project root until the block ends; yield once `ready` says so."""
    log_file = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    child = LoggedProcess(process=process, log_path=Path(log_file.name))
    try:
        _wait_ready(child, name, ready, timeout)
        yield child
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(child: LoggedProcess, name: str, ready: Callable[[LoggedProcess], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{child.log()}")
        if ready(child):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready after {timeout}s:\n{child.log()}")
