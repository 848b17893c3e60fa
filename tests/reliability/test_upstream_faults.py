"""One fault matrix, every connector: each connector's sync through a real worker with each upstream fault.

A row puts one fault (tests/fakes/faults.py) in front of one connector's fake and runs a sync through the
API and a real worker. Transient faults end in a completed job with exactly the fake's entries; persistent
and non-retryable ones in a failed job whose message names the upstream, the step and the status or fault,
with nothing but the fake's entries written. In every row: no job left pending or running, nothing lost or
doubled, no secret in the job's message or log.

The worker is the module's, on a queue of its own, with short timeouts, deadline and body cap so the whole
matrix runs in a few minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.conf import settings

from hub.celery import app
from integrations.models import SyncJob
from tests.fakes.confluence import CLIENT_ID as CONFLUENCE_CLIENT_ID
from tests.fakes.confluence import CLIENT_SECRET as CONFLUENCE_CLIENT_SECRET
from tests.fakes.faults import FOREVER, FaultProxy, Rule
from tests.reliability.upstreams import UPSTREAMS, Upstream
from tests.waiting import sync_ended
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

READ_TIMEOUT = 1.0
DEADLINE = 2.0
BODY_CAP = 256 * 1024
WORKER_ENV = {
    "SYNC_RETRY_COUNTDOWN_MAX_SECONDS": "1",
    "UPSTREAM_REQUEST_DEADLINE_SECONDS": str(DEADLINE),
    "UPSTREAM_MAX_BODY_BYTES": str(BODY_CAP),
    "HAIILO_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    "HAIILO_MAX_ATTEMPTS": "3",
    "CONFLUENCE_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    "LEENA_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    "LEENA_RETRY_BACKOFF_SECONDS": "0.2,0.2",
    "LEANIX_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
    "LEANIX_MAX_ATTEMPTS": "3",
    "LEANIX_RUN_TIMEOUT_SECONDS": "10",
    "LEANIX_POLL_FIRST_SECONDS": "0.05",
    "LEANIX_POLL_MAX_SECONDS": "0.3",
}
PROXY_NAMES = ("haiilo", "confluence", "atlassian-api", "atlassian-auth", "leena", "leanix")
# Where each connector's faults strike: a request of the run that comes more than once.
CONFLUENCE_PAGES = r"/wiki/api/v2/spaces/[^/?]+/pages"
LEENA_ARTICLES = "/api/integration/articles/sync/$"
LEANIX_STATUS = r"/synchronizationRuns/[^/]+/status"


@pytest.fixture(scope="module")
def proxies() -> Iterator[dict[str, FaultProxy]]:
    proxies = {name: FaultProxy() for name in PROXY_NAMES}
    for proxy in proxies.values():
        proxy.__enter__()
    try:
        yield proxies
    finally:
        for proxy in proxies.values():
            proxy.__exit__()


@pytest.fixture(scope="module")
def fault_worker(django_db_setup, django_db_blocker, proxies) -> Iterator[WorkerProcess]:
    """The matrix's worker, on its own queue (the API enqueues through `task_default_queue`, set here
    meanwhile), so the short timeouts above are the ones in force; Atlassian's hosts are the proxies."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-faults-{os.getpid()}"
    atlassian = {
        "ATLASSIAN_API_URL": proxies["atlassian-api"].url,
        "ATLASSIAN_AUTH_URL": proxies["atlassian-auth"].url,
        "ATLASSIAN_CLIENT_ID": CONFLUENCE_CLIENT_ID,
        "ATLASSIAN_CLIENT_SECRET": CONFLUENCE_CLIENT_SECRET,
    }
    before = app.conf.task_default_queue
    app.conf.CELERY_TASK_DEFAULT_QUEUE = queue
    try:
        with WorkerProcess.started(extra_env={"CELERY_TASK_DEFAULT_QUEUE": queue, **WORKER_ENV, **atlassian}) as worker:
            yield worker
    finally:
        app.conf.CELERY_TASK_DEFAULT_QUEUE = before


@dataclass
class Row:
    upstream: str
    rule: Rule
    completes: bool
    says: tuple[str, ...] = ()  # what the failure message names besides the upstream (step, status or fault)
    label: str = ""
    token_again: bool = False  # the fake's token endpoint must be asked once more
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.upstream}-{self.label or self.rule.fault}"


def transient_rows(upstream: str, path: str, method: str = "GET", *, after: int = 1, token: bool = True) -> list[Row]:
    """The faults a retry cures, each on request `after + 1` to `path` (by default the second: mid-run);
    `token`: the upstream has a token to expire."""

    def once(fault: str, path: str, **how) -> Rule:
        return Rule(fault, path=path, method=method, after=after, times=1, **how)

    rows = [
        Row(upstream, once("429", path, retry_after=1), True, label="429-retry-after-seconds"),
        Row(upstream, once("429", path, retry_after=1, retry_after_date=True), True, label="429-retry-after-date"),
        *(Row(upstream, once(status, path), True, label=f"{status}-once") for status in ("500", "502", "503")),
        Row(upstream, once("reset", path), True, label="reset-once"),
        Row(upstream, once("stall", path, stall_seconds=READ_TIMEOUT + 1.5), True, label="stall-once"),
        Row(upstream, once("trickle", path, trickle_interval=0.25), True, label="trickle-once"),
    ]
    if token:
        rows.append(Row(upstream, once("expired-token", path), True, token_again=True))
    return rows


def failing_rows(
    upstream: str, path: str, step: str, method: str = "GET", *, after: int = 1, trickle: bool = False
) -> list[Row]:
    """The faults that outlast the retries or that no retry cures; `step` is how the message names it.
    `trickle`: also a body that trickles past the deadline on every attempt (slow: one connector shows it)."""

    def always(fault: str, path: str, **how) -> Rule:
        return Rule(fault, path=path, method=method, after=after, times=FOREVER, **how)

    rows = [
        Row(upstream, always("500", path), False, (step, "500"), label="500-persistent"),
        Row(upstream, always("malformed-json", path), False, (step, "JSON")),
        Row(upstream, always("truncated", path), False, (step,), label="truncated-persistent"),
        Row(upstream, always("over-cap", path, pad_to=2 * BODY_CAP), False, (step, str(BODY_CAP))),
        Row(upstream, always("html-200", path), False, (step, "200")),
    ]
    if trickle:
        rows.append(Row(upstream, always("trickle", path, trickle_interval=0.25), False, (step, "deadline")))
    return rows


ROWS = [
    *transient_rows("haiilo", r"/events/blog-article\?"),
    *failing_rows("haiilo", r"/events/blog-article\?", "/web/content-connector/events/blog-article", trickle=True),
    *transient_rows("confluence", CONFLUENCE_PAGES, token=False),  # Basic authentication: no token
    *failing_rows("confluence", CONFLUENCE_PAGES, "/wiki/api/v2/spaces/"),
    Row("confluence-oauth", Rule("expired-token", path=CONFLUENCE_PAGES, after=1), True, token_again=True),
    # The cycle sends its articles in one call: the fault strikes that one, the retries go one by one.
    *transient_rows("leena", LEENA_ARTICLES, "POST", after=0),
    *failing_rows("leena", LEENA_ARTICLES, "/api/integration/articles/sync/", "POST", after=0),
    *transient_rows("leanix", LEANIX_STATUS),
    *failing_rows("leanix", LEANIX_STATUS, "/synchronizationRuns/"),
    # The push's inbound run is polled as the pull's outbound one is.
    *transient_rows("leanix-push", LEANIX_STATUS),
    *failing_rows("leanix-push", LEANIX_STATUS, "/synchronizationRuns/"),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_a_fault_ends_in_a_finished_job_with_nothing_lost_doubled_or_leaked(
    row: Row, fault_worker, proxies, admin_client
):
    upstream: Upstream = UPSTREAMS[row.upstream](proxies)
    with upstream.running():
        integration_id = upstream.integration(admin_client)
        tokens_before = upstream.token_requests()
        proxies[upstream.proxy_names[0]].state.rules = [row.rule]
        job = sync_ended(admin_client, integration_id, timeout=120)
        assert row.rule.fault in proxies[upstream.proxy_names[0]].state.faults_answered(), "the fault never fired"
        assert not SyncJob.objects.filter(integration_id=integration_id, status__in=["pending", "running"]).exists()
        expected, actual = upstream.expected(), upstream.actual(integration_id)
        if row.completes:
            assert job["status"] == "completed", job
            assert actual == expected
        else:
            assert job["status"] == "failed", job
            message = job["error_message"]
            assert upstream.name in message, message
            for part in row.says:
                assert part.lower() in message.lower(), (part, message)
            assert actual.items() <= expected.items()  # what was written is the fake's, once
        if row.token_again:
            # The run's usual tokens, then one more after the 401.
            assert upstream.token_requests() - tokens_before == upstream.tokens_per_run + 1
        shown = f"{job['error_message']} {job['log']}"
        leaked = [secret for secret in upstream.secrets() if secret in shown]
        assert not leaked, leaked
