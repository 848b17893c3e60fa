"""The sync service without a worker: retry decisions, bounded logs, and reaping stale jobs."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors import registry
from connectors.base import Connector, ConnectorInfo, Record, RecordFailure, Warning
from connectors.capabilities import PullSource
from connectors.errors import CredentialInvalid, RateLimited
from integrations.models import Integration, JobStatus, KnowledgeEntry, SyncJob
from integrations.runs.engine import sync_job_run
from integrations.runs.jobs import LOG_MAX_LINES, sync_jobs_reap_stale

pytestmark = pytest.mark.django_db


class ScriptedSource(Connector, PullSource):
    """Yields whatever the test put in `script`, then raises `error` if set."""

    info = ConnectorInfo(
        type="scripted",
        display_name="Scripted",
        description="",
        icon="",
        data_description="",
        auth_type="api_key",
        config_schema=(),
    )
    script: list = []
    error: Exception | None = None

    def pull(self, checkpoint) -> Iterator:
        yield from self.script
        if self.error is not None:
            raise self.error


@pytest.fixture
def scripted(org):
    registry.register(ScriptedSource)
    integration = Integration.objects.create(organisation=org, type="scripted", name="Scripted")
    yield integration
    registry.unregister("scripted")
    ScriptedSource.script, ScriptedSource.error = [], None


def pending_job(integration) -> SyncJob:
    return SyncJob.objects.create(organisation=integration.organisation, integration=integration)


def test_a_retryable_upstream_error_puts_the_job_back_to_pending(scripted):
    ScriptedSource.script = [Record("a", "A", "alpha")]
    ScriptedSource.error = RateLimited("Upstream rate limit reached.", retry_after=12)
    job = pending_job(scripted)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id), final_attempt=False)
    job.refresh_from_db()
    assert outcome.retry_in == 12 and job.status == JobStatus.PENDING
    assert "Retrying in 12 s" in job.log[-1]["message"]


def test_the_final_attempt_fails_the_job_instead(scripted):
    ScriptedSource.error = RateLimited("Upstream rate limit reached.", retry_after=12)
    job = pending_job(scripted)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id), final_attempt=True)
    job.refresh_from_db()
    assert outcome.retry_in is None and job.status == JobStatus.FAILED
    assert job.error_message == "Upstream rate limit reached."


def test_a_non_retryable_error_fails_at_once(scripted):
    ScriptedSource.error = CredentialInvalid("Token returned 401 Unauthorized.", status_code=401)
    job = pending_job(scripted)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id), final_attempt=False)
    job.refresh_from_db()
    scripted.refresh_from_db()
    assert outcome.retry_in is None and job.status == JobStatus.FAILED
    assert scripted.status == "error"


def test_failures_and_warnings_are_logged_and_the_log_is_bounded(scripted):
    ScriptedSource.script = [
        *[RecordFailure(f"bad-{i}", "Missing title and body.") for i in range(LOG_MAX_LINES + 50)],
        Warning("Upstream says: partial results."),
        Record("good", "Good", "content"),
    ]
    job = pending_job(scripted)
    sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert len(job.log) == LOG_MAX_LINES + 1
    assert job.log[0] == {**job.log[0], "level": "error", "external_id": "bad-0"}
    assert "51 more lines" in job.log[-1]["message"]
    assert job.records_synced == LOG_MAX_LINES + 51 and job.records_imported == 1
    assert KnowledgeEntry.objects.filter(integration=scripted).count() == 1


def test_empty_and_duplicate_records_are_skipped(scripted):
    ScriptedSource.script = [Record("a", "A", "one"), Record("a", "A", "two"), Record("e", "", "  ")]
    job = pending_job(scripted)
    sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id))
    job.refresh_from_db()
    assert (job.records_synced, job.records_imported, job.records_skipped) == (3, 1, 2)
    assert KnowledgeEntry.objects.get(integration=scripted).content == "two"


def test_a_job_already_claimed_is_not_run_twice(scripted):
    ScriptedSource.script = [Record("a", "A", "alpha")]
    job = pending_job(scripted)
    first = sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id))
    second = sync_job_run(job_id=str(job.id), org_id=str(job.organisation_id))
    assert (first.status, second.status) == ("completed", "skipped")


def test_a_job_of_another_org_id_is_not_run(scripted, make_org):
    job = pending_job(scripted)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(make_org("Other").id))
    job.refresh_from_db()
    assert outcome.status == "skipped" and job.status == JobStatus.PENDING


def test_stale_running_jobs_resumed_too_often_are_reaped_as_failed(scripted, settings):
    # Issue 11: a job whose worker was lost is resumed from its checkpoint; only one already resumed
    # SYNC_MAX_RESUMES times fails (tests/integrations/test_sync_lease.py has the resume itself).
    stale = SyncJob.objects.create(
        organisation=scripted.organisation, integration=scripted, status="running", resumes=settings.SYNC_MAX_RESUMES
    )
    fresh_integration = Integration.objects.create(organisation=scripted.organisation, type="scripted", name="F")
    fresh = SyncJob.objects.create(organisation=scripted.organisation, integration=fresh_integration, status="running")
    SyncJob.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert sync_jobs_reap_stale() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "failed" and "worker lost" in stale.error_message
    assert f"already been resumed {settings.SYNC_MAX_RESUMES} time(s)" in stale.error_message
    assert fresh.status == "running"
