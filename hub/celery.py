"""The Celery app: configured from Django settings (CELERY_*), tasks discovered in every app."""

import os
import sys
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")


class _DjangoSettings:
    """Django's settings as Celery reads them; a missing production key ends the process in one line."""

    def _read(self, read: Any) -> Any:
        from django.conf import settings

        from hub.local_secrets import MissingSecretError

        try:
            return read(settings)
        except MissingSecretError as exc:
            raise SystemExit(f"Tributary will not start: {exc}") from None

    def __getattr__(self, name: str) -> Any:
        return self._read(lambda settings: getattr(settings, name))

    def __dir__(self) -> list[str]:
        return self._read(dir)


app = Celery("hub")
app.config_from_object(_DjangoSettings(), namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def switch_interval_set(**_: Any) -> None:
    """Before the pool starts (its forked processes inherit it): WORKER_SWITCH_INTERVAL_SECONDS."""
    from django.conf import settings

    sys.setswitchinterval(settings.WORKER_SWITCH_INTERVAL_SECONDS)
