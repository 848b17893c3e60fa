"""The hub's own dependencies restarted mid-run (issue 14): a private PostgreSQL and a private Redis on
spare ports (tests/services.py), used by a real Celery worker and a real gunicorn; the test process
itself stays on pytest-django's database and reads the hub's state through tests/reliability/private_hub.py.

PostgreSQL restarted in the middle of a sync, Redis restarted in the middle of a sync and while signed
webhooks arrive: the run resumes, the worker reconnects by itself, no job is stuck, and no accepted
webhook is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.fakes.notes import NotesServer
from tests.reliability.private_hub import PrivateHub
from tests.services import PrivatePostgres, PrivateRedis, private_postgres, private_redis
from tests.waiting import wait_until
from tests.webhooks.helpers import standard_headers_for
from tests.worker_process import WorkerProcess

pytestmark = pytest.mark.worker

NOTES = 40
PAGE_DELAY = 0.25  # per page of 2 notes: a sync of 20 pages takes seconds, so a restart lands in its middle
WAIT_TIMEOUT = 90.0
ENDED = ("completed", "failed")


@dataclass
class Services:
    postgres: PrivatePostgres
    redis: PrivateRedis
    hub: PrivateHub


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with private_postgres() as postgres, private_redis() as redis:
        hub = PrivateHub(database_url=postgres.url, broker_url=redis.url, queue=f"restarts-{uuid.uuid4().hex[:8]}")
        hub.migrate()
        yield Services(postgres=postgres, redis=redis, hub=hub)


@pytest.fixture
def notes() -> Iterator[NotesServer]:
    with NotesServer() as server:
        for n in range(NOTES):
            server.upstream.put(f"n{n:02}", f"Note {n}", f"Body of note {n}")
        server.upstream.page_delay = PAGE_DELAY
        yield server


@pytest.fixture
def worker(services) -> Iterator[WorkerProcess]:
    with WorkerProcess.started(extra_env=services.hub.env) as process:
        yield process


def job_ended(hub: PrivateHub, job_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job = hub.run("job", job=job_id)
        return job if job["status"] in ENDED else None

    return wait_until(ended, f"job {job_id} to end")


def pages_served(notes: NotesServer) -> int:
    return sum(path.startswith("/api/notes") for path in notes.upstream.requests)


def test_postgres_restarted_mid_sync_resumes_from_the_checkpoint_and_the_worker_reconnects(
    services, notes, worker
) -> None:
    hub = services.hub
    notes.upstream.page_delay = 2 * PAGE_DELAY  # the restart lands well before the last page
    integration = hub.run("setup", notes_url=notes.url)["notes"][0]
    job_id = hub.run("sync", integration=integration)
    wait_until(lambda: pages_served(notes) >= 4, "the sync to be under way")

    services.postgres.restart(down_for=2.0)

    job = job_ended(hub, job_id)
    assert job["status"] == "completed", job
    assert any("database connection was lost" in line for line in job["log"]), job["log"]
    assert hub.run("entries", integration=integration) == sorted(notes.upstream.notes)
    # The same worker process, never restarted, runs the next sync on its own new connection.
    notes.upstream.put("n-after", "After the restart", "Body")
    second = job_ended(hub, hub.run("sync", integration=integration))
    assert second["status"] == "completed", second
    assert hub.run("entries", integration=integration) == sorted(notes.upstream.notes)
    assert hub.run("jobs", integration=integration) == ["completed", "completed"]


def test_redis_restarted_mid_sync_the_run_completes_and_lost_queued_tasks_are_enqueued_again(
    services, notes, worker
) -> None:
    hub = services.hub
    notes.upstream.page_delay = 2 * PAGE_DELAY  # room for the two requests below before the restart
    running, *waiting = hub.run("setup", notes_url=notes.url, notes_count=3)["notes"]
    running_job = hub.run("sync", integration=running)
    wait_until(lambda: pages_served(notes) >= 4, "the sync to be under way")
    # The one worker is busy: these tasks wait (one may already be in the worker's hands; the other
    # waits in Redis, which keeps nothing over a restart).
    waiting_jobs = [hub.run("sync", integration=integration) for integration in waiting]

    services.redis.restart(down_for=1.0)

    job = job_ended(hub, running_job)
    assert job["status"] == "completed", job
    assert hub.run("entries", integration=running) == sorted(notes.upstream.notes)
    notes.upstream.page_delay = 0
    # The reaper (a beat task every 30 s) enqueues again the jobs pending past the bound: at least the
    # one whose task was in Redis. A task that was not lost after all finds its job taken and does nothing.
    assert hub.run("reap", env={"SYNC_PENDING_TIMEOUT_SECONDS": "0"}) >= 1
    for integration, job_id in zip(waiting, waiting_jobs, strict=True):
        assert job_ended(hub, job_id)["status"] == "completed"
        assert hub.run("entries", integration=integration) == sorted(notes.upstream.notes)
    # A sync requested after the restart runs on the reconnected worker.
    again = job_ended(hub, hub.run("sync", integration=running))
    assert again["status"] == "completed", again
    assert hub.run("jobs", integration=running) == ["completed", "completed"]


@dataclass
class Sender:
    """Signed Standard Webhooks deliveries, one after another, each retried until it is answered 2xx,
    as a webhook sender does. Records every answer."""

    url: str
    secret: str
    answers: list[tuple[str, int, str]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def deliver(self, client: httpx.Client, delivery_id: str) -> None:
        body = f'{{"text": "delivery {delivery_id}"}}'.encode()
        while True:
            headers = {
                "Content-Type": "application/json",
                **standard_headers_for(self.secret, body, msg_id=delivery_id),
            }
            try:
                response = client.post(self.url, content=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            self.answers.append((delivery_id, response.status_code, response.headers.get("Content-Type", "")))
            if response.is_success:
                self.accepted.append(delivery_id)
                return
            time.sleep(0.1)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            number = 0
            while not self.stop.is_set():
                self.deliver(client, f"delivery-{number:04}")
                number += 1


def deliveries_through_an_outage(services: Services, server: PrivatePostgres | PrivateRedis) -> dict[str, Any]:
    """Signed deliveries to the live hub before, while and after `server` is down; what was answered,
    and what the hub stored."""
    hub = services.hub
    ids = hub.run("setup", notes_url="http://127.0.0.1:9")
    with hub.web_started() as url:
        sender = Sender(url=f"{url}/api/v1/integrations/webhook/{ids['webhook']}/receive", secret=ids["signing_secret"])
        thread = threading.Thread(target=sender.run, daemon=True)
        thread.start()
        wait_until(lambda: len(sender.accepted) >= 20, "deliveries before the outage")
        server.stop()
        before_outage = len(sender.answers)
        time.sleep(2.0)
        during_outage = len(sender.answers) - before_outage
        api_answer = api_call(url, ids["access_token"])
        server.start()
        after_restart = len(sender.accepted)
        wait_until(lambda: len(sender.accepted) >= after_restart + 20, "deliveries after the restart")
        sender.stop.set()
        thread.join(timeout=30)
    return {
        "during_outage": during_outage,
        "api_during_outage": api_answer,
        "answers": sender.answers,
        "accepted": sender.accepted,
        "stored": hub.run("deliveries", integration=ids["webhook"]),
        "entries": hub.run("entries", integration=ids["webhook"]),
    }


def api_call(url: str, access_token: str) -> tuple[int, str, Any]:
    """An admin's GET /api/v1/integrations: (status, Retry-After, JSON body)."""
    response = httpx.get(f"{url}/api/v1/integrations", headers={"Authorization": f"Bearer {access_token}"}, timeout=30)
    return response.status_code, response.headers.get("Retry-After", ""), response.json()


def assert_every_accepted_delivery_stored_once(seen: dict[str, Any]) -> None:
    assert seen["during_outage"] > 0, "no delivery was answered during the outage"
    assert all(content_type.startswith("application/json") for _, _, content_type in seen["answers"]), seen["answers"]
    refused = [(delivery, status) for delivery, status, _ in seen["answers"] if status >= 300]
    assert all(status == 503 for _, status in refused), refused
    accepted = sorted(seen["accepted"])
    assert len(set(accepted)) == len(accepted)
    assert seen["stored"] == accepted
    assert len(seen["entries"]) == len(accepted)


def test_redis_restarted_while_signed_webhooks_arrive_loses_no_accepted_delivery(services) -> None:
    """The receive path needs no Redis: its throttle lets deliveries through while the cache is down."""
    seen = deliveries_through_an_outage(services, services.redis)
    assert_every_accepted_delivery_stored_once(seen)
    status, _, body = seen["api_during_outage"]
    assert status == 200, body  # the API needs no Redis to read either: its throttle fails open too


def test_postgres_restarted_while_signed_webhooks_arrive_answers_503_and_loses_no_accepted_delivery(services) -> None:
    seen = deliveries_through_an_outage(services, services.postgres)
    assert_every_accepted_delivery_stored_once(seen)
    assert any(status == 503 for _, status, _ in seen["answers"]), "the outage was not seen"
    # Any API call meets the outage the same way: 503 in the envelope with Retry-After, never a 500.
    status, retry_after, body = seen["api_during_outage"]
    assert (status, retry_after, body["error"]["code"]) == (503, "5", "SERVICE_UNAVAILABLE"), body
