"""Liveness and readiness probes for operators and orchestrators.

Probes are anonymous: /readyz names what failed and logs why; the why (hosts, driver messages)
never goes into the answer.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from kombu import Connection

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def database_check() -> str | None:
    """None when the database answers; otherwise why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means not ready
        return f"{type(exc).__name__}: {exc}"
    return None


def broker_check() -> str | None:
    """None when the Celery broker accepts a connection; otherwise why not."""
    url = settings.CELERY_BROKER_URL
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    if url.startswith("filesystem://"):
        folder = options.get("data_folder_in", "")
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            return f"broker folder {folder!r} is missing or not writable"
        return None
    try:
        with Connection(url, connect_timeout=2, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises transport-specific errors
        return f"{type(exc).__name__}: {exc}"
    return None


def readyz(request: HttpRequest) -> JsonResponse:
    failures = {name: why for name, why in (("database", database_check()), ("broker", broker_check())) if why}
    for name, why in failures.items():
        logger.warning("Readiness check %s failed: %s", name, why)
    checks = {name: "failed" if name in failures else "ok" for name in ("database", "broker")}
    if failures:
        return JsonResponse({"status": "unavailable", "failed": sorted(failures), "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})
