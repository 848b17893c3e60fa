"""Faults that outlast the retries: bounded backoff, then a job failure naming the type and status.

These run the sync service in the test process (real database, real HTTP to the fake), because a
failing job in the worker is retried by Celery minutes later; the worker tests in test_sync.py
cover the faults that the retries cure.
"""

from __future__ import annotations

import pytest

from integrations.models import Integration, JobStatus, KnowledgeEntry, SyncJob
from integrations.runs.engine import sync_job_run
from tests.fakes.haiilo import Fault

pytestmark = pytest.mark.django_db
ATTEMPTS = 4  # UpstreamHttpClient's default, used by the connector unless HAIILO_MAX_ATTEMPTS says otherwise


def run_job(integration: Integration, *, final_attempt: bool = True) -> tuple[SyncJob, object]:
    job = SyncJob.objects.create(organisation=integration.organisation, integration=integration)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(integration.organisation_id), final_attempt=final_attempt)
    job.refresh_from_db()
    return job, outcome


def requests_for(haiilo, fragment: str) -> list[int]:
    return [i for i, (_, path, _) in enumerate(haiilo.tenant.requests) if fragment in path]


@pytest.mark.parametrize("status", [500, 503])
def test_a_persistent_5xx_fails_the_job_naming_the_entity_type_and_status(integration, haiilo, status):
    haiilo.tenant.generate(120, update_share=0)
    haiilo.tenant.faults.append(Fault(count=10_000, status=status, entity_type="file"))
    job, _ = run_job(integration)
    assert job.status == JobStatus.FAILED
    assert "'file'" in job.error_message and f"HTTP {status}" in job.error_message
    assert len(requests_for(haiilo, "/events/file/deletes")) == ATTEMPTS  # bounded: no endless retrying
    assert Integration.objects.get(pk=integration.pk).status == "error"
    # What came before the failure is written, and its cursors are kept for the next attempt.
    assert KnowledgeEntry.objects.filter(integration=integration, external_id__startswith="user:").exists()
    assert "user" in Integration.objects.get(pk=integration.pk).sync_checkpoint["cursors"]


def test_a_persistent_429_honours_retry_after_then_fails_naming_the_type_and_status(integration, haiilo):
    haiilo.tenant.faults.append(Fault(count=10_000, status=429, headers={"Retry-After": "1"}, entity_type="app"))
    job, _ = run_job(integration)
    assert job.status == JobStatus.FAILED
    assert "'app'" in job.error_message and "HTTP 429" in job.error_message
    calls = requests_for(haiilo, "/events/app")
    assert len(calls) == ATTEMPTS
    times = [haiilo.tenant.request_times[i] for i in calls]
    assert all(later - earlier >= 0.95 for earlier, later in zip(times, times[1:], strict=False))


def test_a_rate_limited_job_that_is_not_on_its_last_attempt_is_put_back_for_later(integration, haiilo):
    haiilo.tenant.faults.append(Fault(count=10_000, status=429, headers={"Retry-After": "2"}, entity_type="user"))
    job, outcome = run_job(integration, final_attempt=False)
    assert job.status == JobStatus.PENDING and outcome.retry_in == 2.0
    assert "'user'" in job.log[-1]["message"] and "HTTP 429" in job.log[-1]["message"]


def test_an_answer_slower_than_the_timeout_is_retried_then_fails_naming_the_type(integration, haiilo, settings):
    settings.HAIILO_READ_TIMEOUT_SECONDS = 0.2
    haiilo.tenant.delay = 0.6
    job, _ = run_job(integration)
    assert job.status == JobStatus.FAILED
    # Every type is slow and the types are fetched at once: the first to give up names itself.
    from connectors.haiilo.mapping import SUPPORTED_TYPES

    failed_type = next(t for t in SUPPORTED_TYPES if f"'{t}'" in job.error_message)
    assert "ReadTimeout" in job.error_message and "no HTTP response" in job.error_message
    assert len(requests_for(haiilo, f"/events/{failed_type}")) <= ATTEMPTS


def test_connections_dropped_every_time_fail_the_job_naming_the_type(integration, haiilo):
    haiilo.tenant.faults.append(Fault(count=10_000, drop=True, entity_type="user"))
    job, _ = run_job(integration)
    assert job.status == JobStatus.FAILED
    assert "'user'" in job.error_message and "no HTTP response" in job.error_message
    assert len(requests_for(haiilo, "/events/user")) == ATTEMPTS


def test_revoked_client_credentials_fail_the_job_at_once(integration, haiilo):
    haiilo.tenant.client_secret = "rotated"
    job, outcome = run_job(integration, final_attempt=False)
    assert job.status == JobStatus.FAILED and outcome.retry_in is None  # a 401 is not worth retrying
    assert "HTTP 401" in job.error_message and "'user'" in job.error_message


def test_an_event_without_an_entity_id_is_a_logged_failure_and_the_rest_is_imported(integration, haiilo):
    from tests.fakes.haiilo import Event

    tenant = haiilo.tenant
    tenant.create("page", name={"en": "Before"}, visibility="PUBLIC")
    tenant._append(Event(tenant.next_event_id, "page", "", "CREATE", {"name": {"en": "Nameless"}}))
    tenant.create("page", name={"en": "After"}, visibility="PUBLIC")
    job, _ = run_job(integration)
    assert job.status == JobStatus.COMPLETED
    assert (job.records_synced, job.records_imported, job.records_skipped) == (3, 2, 0)
    assert job.progress["records_failed"] == 1
    assert any(line["level"] == "error" and "without an entity id" in line["message"] for line in job.log)
    titles = set(KnowledgeEntry.objects.filter(integration=integration).values_list("title", flat=True))
    assert titles == {"Before", "After"}
