"""A Haiilo pull's entity types are its slices: fetched at once (RUN_MAX_CONCURRENT_SLICES), written
through the run's one write path, each resuming at its own cursor."""

from __future__ import annotations

import pytest

from connectors.haiilo.mapping import SUPPORTED_TYPES
from integrations.models import Integration, JobStatus, KnowledgeEntry, SyncJob
from integrations.runs.engine import sync_job_run
from tests.connectors.haiilo.test_sync import expected_live
from tests.fakes.haiilo import Fault

pytestmark = pytest.mark.django_db(transaction=True)


def run_job(integration: Integration) -> SyncJob:
    job = SyncJob.objects.create(organisation=integration.organisation, integration=integration)
    sync_job_run(job_id=str(job.id), org_id=str(integration.organisation_id))
    job.refresh_from_db()
    return job


def live_ids(integration: Integration) -> set[str]:
    entries = KnowledgeEntry.objects.filter(integration=integration, deleted_at__isnull=True)
    return set(entries.values_list("external_id", flat=True))


@pytest.mark.parametrize("concurrency", [1, 4])
def test_entity_types_are_fetched_at_once_up_to_the_setting(integration, haiilo, settings, concurrency):
    settings.RUN_MAX_CONCURRENT_SLICES = concurrency
    haiilo.tenant.generate(700, update_share=0.1)
    haiilo.tenant.delay = 0.2  # every request waits, so slices that run at once are seen at once
    job = run_job(integration)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert haiilo.tenant.in_flight_max == concurrency
    assert {entry.split(":")[0] for entry in live_ids(integration)} <= set(SUPPORTED_TYPES)
    assert live_ids(integration) == {f"{t}:{i}" for t, i in (e.split(":", 1) for e in expected_live(haiilo.tenant))}
    cursors = Integration.objects.get(pk=integration.pk).sync_checkpoint["cursors"]
    assert set(cursors) == set(SUPPORTED_TYPES)


def test_a_failing_slice_stops_the_others_and_keeps_what_they_wrote(integration, haiilo, settings):
    settings.RUN_MAX_CONCURRENT_SLICES = 4
    haiilo.tenant.generate(3000, update_share=0)
    haiilo.tenant.faults.append(Fault(count=1, status=403, entity_type="user", after=6))
    failed = run_job(integration)
    assert failed.status == JobStatus.FAILED and "'user'" in failed.error_message
    stored = Integration.objects.get(pk=integration.pk).sync_checkpoint["cursors"]
    # The other slices' cursors were saved with what they wrote before the failure.
    assert len(stored) >= 2 and all(cursor.get("events", 0) > 0 or cursor.get("deletes") for cursor in stored.values())
    assert 0 < len(live_ids(integration)) < len(expected_live(haiilo.tenant))

    mark = len(haiilo.tenant.requests)
    resumed = run_job(integration)
    assert resumed.status == JobStatus.COMPLETED, resumed.error_message
    assert live_ids(integration) == expected_live(haiilo.tenant)
    # No page written before the failure was fetched again: each type resumed at its own cursor.
    again = [path for _, path, _ in haiilo.tenant.requests[mark:] if "/events/" in path and "startId=0&" in path]
    assert not [path for path in again if any(f"/events/{t}?" in path for t in stored if stored[t].get("events"))]
