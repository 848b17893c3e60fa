"""Hub tasks: a ping that proves a worker shares the broker and the database; refresh-token clean-up."""

import sys

from celery import shared_task
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from hub.models import Organisation


@shared_task(name="hub.worker_ping")
def worker_ping(org_id: str) -> dict:
    """Answers from the worker with what it sees of one organisation in the database, and the thread
    switch interval it runs with (WORKER_SWITCH_INTERVAL_SECONDS, set as the worker starts)."""
    organisation = Organisation.objects.filter(id=org_id).first()
    return {
        "pong": True,
        "organisation_name": organisation.name if organisation else None,
        "switch_interval_seconds": sys.getswitchinterval(),
    }


@shared_task(name="hub.flush_expired_refresh_tokens")
def flush_expired_refresh_tokens() -> int:
    """Drops refresh tokens past their expiry (and their blacklist rows): they are refused anyway."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
