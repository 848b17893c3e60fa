"""`run_hub`: web, a Celery worker and beat in the foreground; Ctrl-C stops all three."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server (127.0.0.1:8000), a Celery worker and Celery beat together."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def handle(self, *args, bind: str, **options):
        python = sys.executable
        beat_schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
        commands = {
            "web": [python, "manage.py", "runserver", bind, "--noreload"],
            "worker": [python, "-m", "celery", "-A", "hub", "worker", "-l", "info", "-c", "2"],
            "beat": [python, "-m", "celery", "-A", "hub", "beat", "-l", "info", "-s", beat_schedule],
        }
        # A SIGTERM (from a supervisor or `timeout`) stops the three like Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(f"Tributary is up on http://{bind}/ (Ctrl-C stops web, worker and beat)")
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


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
