"""`run_hub`: web, a Celery worker per queue and beat in the foreground; Ctrl-C stops them all.

Two workers, not one worker on both queues: one worker's slots are shared by both, so syncs could
take them all and the reaper and the scheduler would wait behind them (README "Queues")."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server (127.0.0.1:8000), a Celery worker per queue and Celery beat together."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def handle(self, *args, bind: str, **options):
        python = sys.executable
        beat_schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
        commands = {
            "web": [python, "manage.py", "runserver", bind, "--noreload"],
            # More runs slots than RUNS_PER_ORGANISATION_MAX (default 2): one organisation never holds all.
            "worker-runs": _worker(python, settings.RUNS_QUEUE, concurrency=3),
            "worker-default": _worker(python, settings.CELERY_TASK_DEFAULT_QUEUE, concurrency=1),
            "beat": [python, "-m", "celery", "-A", "hub", "beat", "-l", "info", "-s", beat_schedule],
        }
        # A SIGTERM (from a supervisor or `timeout`) stops the three like Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(f"Tributary is up on http://{bind}/ (Ctrl-C stops web, the workers and beat)")
        try:
            while all(proc.poll() is None for proc in processes.values()):
                time.sleep(0.5)
            exited = [name for name, proc in processes.items() if proc.poll() is not None]
            self.stderr.write(f"{', '.join(exited)} exited; stopping the rest")
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(processes)

    def _stop(self, processes: dict[str, subprocess.Popen]) -> None:
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def _worker(python: str, queue: str, *, concurrency: int) -> list[str]:
    """A worker serving one queue, named after it (two workers on one host need distinct names)."""
    return [python, "-m", "celery", "-A", "hub", "worker", "-l", "info", "-Q", queue, "-c", str(concurrency),
            "-n", f"{queue}@%h"]  # fmt: skip


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
