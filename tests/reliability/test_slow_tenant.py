"""A slow tenant does not starve the others (issue 14): organisation A's upstream answers slowly and
it has more integrations than its runs cap, yet organisation B's sync and signed webhooks complete
while A's runs are still running, and the beat-side tasks are served by the default-queue worker.

Real processes: a worker on the runs queue (prefork, two slots), a worker on the default queue, the
hub under gunicorn for the webhooks, fake notes upstreams over HTTP. The test asserts the order of
completion, never a duration; it prints the bound it measured (B's time to complete) for the note."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from hub.models import Role
from integrations.models import JobStatus, KnowledgeEntry, SyncJob
from integrations.tasks import reap_stale_sync_jobs, start_due_runs
from tests.console.live_hub import LiveHub
from tests.fakes.notes import NotesServer
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended, queue_of_its_own, wait_until
from tests.webhooks.helpers import receive_path
from tests.worker_process import WorkerProcess
from webhooks.signing import signature_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"
SLOW_INTEGRATIONS = 3  # more than A's cap: the rest wait, pending
SLOW_PAGES, SLOW_PAGE_DELAY = 12, 0.4  # a few seconds a run, against B's fraction of a second
WEBHOOKS = 20
RUNS_ENV = {"RUNS_PER_ORGANISATION_MAX": "1"}  # below the runs worker's two slots: one is always B's to take


@pytest.fixture
def own_queue(settings) -> Iterator[str]:
    """Queues of this test's own ("<queue>" and "<queue>-runs"), so no session worker takes its tasks."""
    with queue_of_its_own(f"{settings.CELERY_TASK_DEFAULT_QUEUE}-slow-tenant") as queue:
        yield queue


def admin_of(name, make_org, make_member, client_for):
    organisation = make_org(name)
    return organisation, client_for(make_member(organisation, Role.ADMIN))


def notes_integration(client, server: NotesServer, name: str) -> str:
    body = {"type": "notes", "name": name, "config": {"base_url": server.url, "api_key": "notes-key"}}
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def webhook_integration(client) -> dict:
    response = client.post(BASE, {"type": "webhook", "name": "Deploys"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def send_webhooks(hub: LiveHub, webhook: dict, count: int) -> list[int]:
    statuses = []
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        for n in range(count):
            raw = f'{{"title": "Release {n}", "content": "Release {n} is out."}}'.encode()
            headers = {"X-Knora-Signature": signature_for(webhook["signing_secret"], raw),
                       "Content-Type": "application/json"}  # fmt: skip
            statuses.append(client.post(receive_path(webhook["id"]), content=raw, headers=headers).status_code)
    return statuses


def a_running(job_ids: list[str]) -> bool:
    return SyncJob.objects.filter(id__in=job_ids, status=JobStatus.RUNNING).exists()


def a_under_way(job_ids: list[str]) -> bool:
    """Running, or pending its turn (between two of A's runs none is running for a moment)."""
    return SyncJob.objects.filter(id__in=job_ids, status__in=(JobStatus.PENDING, JobStatus.RUNNING)).exists()


def test_a_slow_tenant_does_not_keep_another_tenants_sync_webhooks_or_beat_tasks_waiting(
    own_queue, make_org, make_member, client_for
):
    env = {"CELERY_TASK_DEFAULT_QUEUE": own_queue, **RUNS_ENV}
    a_org, a_client = admin_of("Slow Tenant", make_org, make_member, client_for)
    b_org, b_client = admin_of("Other Tenant", make_org, make_member, client_for)
    with (
        NotesServer() as slow,
        NotesServer() as fast,
        WorkerProcess.started(extra_env=env, queues=("default",)) as default_worker,
        WorkerProcess.started(extra_env=env, queues=("runs",), pool="prefork", concurrency=2) as runs_worker,
        LiveHub.started(oauth_provider_url="http://127.0.0.1:9", extra_env=env) as hub,
    ):
        slow.upstream.page_size, slow.upstream.page_delay = 2, SLOW_PAGE_DELAY
        for n in range(2 * SLOW_PAGES):
            slow.upstream.put(f"a{n}", f"Slow note {n}", "A body")
        fast.upstream.put("b1", "Fast note", "B body")
        a_integrations = [notes_integration(a_client, slow, f"Slow {n}") for n in range(SLOW_INTEGRATIONS)]
        b_integration, b_webhook = notes_integration(b_client, fast, "Fast"), webhook_integration(b_client)

        a_jobs = [start_sync(a_client, integration)["sync_job_id"] for integration in a_integrations]
        wait_until(lambda: a_running(a_jobs), "a run of A", 60)
        began = time.monotonic()
        b_job = start_sync(b_client, b_integration)["sync_job_id"]
        webhook_statuses = send_webhooks(hub, b_webhook, WEBHOOKS)
        webhooks_seconds = time.monotonic() - began
        b_done = job_ended(b_client, b_integration, b_job, timeout=120)
        b_seconds = time.monotonic() - began
        assert a_running(a_jobs), "A's runs ended before B's: the test proves nothing, make A slower"
        assert b_done["status"] == "completed", b_done
        assert webhook_statuses == [202] * WEBHOOKS
        assert KnowledgeEntry.objects.filter(integration_id=b_webhook["id"]).count() == WEBHOOKS

        # The beat-side tasks go to the default queue and its worker serves them while A still runs.
        beat_results = [reap_stale_sync_jobs.apply_async(), start_due_runs.apply_async()]
        assert [result.get(timeout=60) for result in beat_results] == [0, 0]
        assert a_under_way(a_jobs), "A's runs ended before the beat tasks: make A slower"
        b_row = SyncJob.objects.get(id=b_job)
        print(
            f"\nWhile A ran: B's {WEBHOOKS} webhooks accepted in {webhooks_seconds:.2f} s; B's sync completed "
            f"{(b_row.completed_at - b_row.created_at).total_seconds():.2f} s after it was created "
            f"(seen by polling after {b_seconds:.2f} s)"
        )

        wait_until(lambda: SyncJob.objects.filter(id__in=a_jobs, status=JobStatus.COMPLETED).count() == len(a_jobs),
                   "A's runs", 60 + 10 * SLOW_INTEGRATIONS * SLOW_PAGES * SLOW_PAGE_DELAY)  # fmt: skip
        default_log, runs_log = default_worker.log(), runs_worker.log()

    b_job_row = SyncJob.objects.get(id=b_job)
    a_rows = sorted(SyncJob.objects.filter(id__in=a_jobs), key=lambda job: job.started_at)
    # B finished before any of A's runs: the first of them had started before B was asked for.
    assert all(b_job_row.completed_at < job.completed_at for job in a_rows)
    # The beat tasks were done before A's last run: while A's runs held the runs worker.
    assert all(result.date_done < a_rows[-1].completed_at for result in beat_results)
    assert a_rows[0].started_at < b_job_row.started_at
    # A never ran more than its cap (one) at once, and waiting was neither a retry nor a failure.
    assert all(later.started_at >= earlier.completed_at for earlier, later in zip(a_rows, a_rows[1:], strict=False))
    assert [job.attempts for job in a_rows] == [1] * SLOW_INTEGRATIONS
    for integration in a_integrations:
        assert KnowledgeEntry.objects.filter(integration_id=integration).count() == 2 * SLOW_PAGES
    # Each worker served its own queue only.
    for task in ("integrations.reap_stale_sync_jobs", "integrations.start_due_runs"):
        assert f"{task}[" in default_log and f"{task}[" not in runs_log
    assert "integrations.run_sync_job[" in runs_log and "integrations.run_sync_job[" not in default_log
