"""The hub under test on a private PostgreSQL and Redis, driven from the test through subprocesses
(the test process itself stays on pytest-django's database).

`PrivateHub.run(command, ...)` runs `python -m tests.reliability.private_hub <command> <json>` with the
hub's environment and returns the JSON it prints: the same services the hub uses, no ORM in the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.processes import ROOT, process_started
from tests.services import free_port

SETTINGS_MODULE = "hub.settings_test"


@dataclass
class PrivateHub:
    database_url: str
    broker_url: str
    queue: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What every process of this hub (worker, web, these commands) runs with."""
        return {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "REDIS_URL": self.broker_url,
            "CELERY_RESULT_BACKEND": self.broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            **self.extra_env,
        }

    @contextlib.contextmanager
    def web_started(self) -> Iterator[str]:
        """The hub's web app under gunicorn on a spare port; yields its URL."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{port}",
                   "--workers", "1", "--threads", "8", "--log-level", "warning"]  # fmt: skip

        def answers(_child) -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            return False

        env = {**os.environ, **self.env, "PUBLIC_BASE_URL": url}
        with process_started(command, env=env, name="private-hub-web", ready=answers, timeout=60):
            yield url

    def migrate(self) -> None:
        command = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
        subprocess.run(command, cwd=ROOT, env={**os.environ, **self.env}, check=True, timeout=300)

    def run(self, command: str, env: dict[str, str] | None = None, **arguments: Any) -> Any:
        child = subprocess.run(
            [sys.executable, "-m", "tests.reliability.private_hub", command, json.dumps(arguments)],
            cwd=ROOT,
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if child.returncode:
            raise RuntimeError(f"private_hub {command} failed:\n{child.stdout}\n{child.stderr}")
        return json.loads(child.stdout.strip().splitlines()[-1])


# --- The commands, run inside the hub's environment ---------------------------------------------


def setup(*, notes_url: str, notes_count: int = 1) -> dict[str, Any]:
    """An organisation with `notes_count` notes integrations on `notes_url` and a webhook integration."""
    from hub.models import SubscriptionStatus
    from hub.services import organisation_create
    from integrations.services import integration_create

    org = organisation_create(name="Private", plan_code="business", subscription_status=SubscriptionStatus.ACTIVE)
    config = {"base_url": notes_url, "api_key": "notes-key"}
    notes = [
        integration_create(organisation=org, user=None, type="notes", name=f"Notes {n}", config=config)[0]
        for n in range(notes_count)
    ]
    webhook, shown = integration_create(organisation=org, user=None, type="webhook", name="Hooks", config={})
    return {
        "access_token": _access_token(org),
        "notes": [str(integration.id) for integration in notes],
        "webhook": str(webhook.id),
        "signing_secret": shown["signing_secret"],
    }


def _access_token(org) -> str:
    """An admin's JWT, for an API call the test makes while the database is down."""
    from hub.auth import tokens_for
    from hub.models import Membership, User

    user = User.objects.create_user(email=f"admin-{org.pk}@private.example", password="unused-password-1")
    return tokens_for(Membership.objects.create(user=user, organisation=org, role="admin"))["access"]


def sync(*, integration: str) -> str:
    """Request a sync as the API does (a pending job and its task); the job's id."""
    from integrations.models import Integration
    from integrations.runs.engine import sync_job_request

    target = Integration.objects.select_related("organisation").get(pk=integration)
    job, _ = sync_job_request(organisation=target.organisation, integration=target, user=None)
    return str(job.id)


def job(*, job: str) -> dict[str, Any]:
    from integrations.models import SyncJob

    row = SyncJob.objects.get(pk=job)
    return {"status": row.status, "error_message": row.error_message, "log": [line["message"] for line in row.log]}


def jobs(*, integration: str) -> list[str]:
    """The statuses of the integration's jobs."""
    from integrations.models import SyncJob

    return list(SyncJob.objects.filter(integration_id=integration).values_list("status", flat=True))


def entries(*, integration: str) -> list[str]:
    """The external ids of the integration's entries, once per entry (a duplicate would show)."""
    from integrations.models import KnowledgeEntry

    return sorted(KnowledgeEntry.objects.filter(integration_id=integration).values_list("external_id", flat=True))


def deliveries(*, integration: str) -> list[str]:
    from webhooks.models import WebhookDelivery

    return sorted(WebhookDelivery.objects.filter(integration_id=integration).values_list("idempotency_key", flat=True))


def reap() -> int:
    from integrations.runs.jobs import sync_jobs_reap_stale

    return sync_jobs_reap_stale()


COMMANDS = {fn.__name__: fn for fn in (setup, sync, job, jobs, entries, deliveries, reap)}

if __name__ == "__main__":
    import django

    django.setup()
    name, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(COMMANDS[name](**arguments)))
