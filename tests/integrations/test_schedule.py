"""Which runs the scheduler starts (integrations.runs.schedule), on the real database; the worker tests
that show the runs happen are in test_schedule_worker.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.base import Record
from hub.models import Organisation, SubscriptionStatus
from integrations.knowledge import entries_upsert
from integrations.models import Integration, IntegrationStatus, JobStatus, SyncJob
from integrations.runs.engine import NOT_ENQUEUED
from integrations.runs.schedule import destination_runs_after_source, integrations_due, runs_due_start
from tests.integrations.test_sync_lease import unreachable_broker  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
NOTES = {"base_url": "http://127.0.0.1:9", "api_key": "k"}


def integration(organisation, name="Notes", interval=10, **fields) -> Integration:
    made = Integration(organisation=organisation, type="notes", name=name, sync_interval_minutes=interval, **fields)
    made.config = NOTES
    made.save()
    return made


def job(integration, *, minutes_ago: float, status=JobStatus.COMPLETED, error_message=None) -> SyncJob:
    made = SyncJob.objects.create(
        organisation_id=integration.organisation_id, integration=integration, status=status, error_message=error_message
    )
    SyncJob.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return made


def due_names(now=None) -> set[str]:
    return {i.name for i in integrations_due(now=now or timezone.now())}


def test_due_when_never_run_or_the_last_run_is_older_than_the_interval(org):
    integration(org, "Never ran")
    job(integration(org, "Ran 11 min ago"), minutes_ago=11)
    job(integration(org, "Ran 10 min ago"), minutes_ago=10.01)
    job(integration(org, "Ran 9 min ago"), minutes_ago=9)
    # Only the latest job counts, whatever its status: a manual run restarts the interval.
    recent = integration(org, "Old and recent")
    job(recent, minutes_ago=60)
    job(recent, minutes_ago=1, status=JobStatus.FAILED, error_message="upstream down")
    integration(org, "Manual only", interval=None)
    assert due_names() == {"Never ran", "Ran 11 min ago", "Ran 10 min ago"}
    assert due_names(timezone.now() + timedelta(minutes=9)) == {
        "Never ran",
        "Ran 11 min ago",
        "Ran 10 min ago",
        "Ran 9 min ago",
        "Old and recent",
    }


def test_never_due_while_a_run_is_under_way_or_for_a_pending_or_inactive_integration(org):
    job(integration(org, "Running"), minutes_ago=60, status=JobStatus.RUNNING)
    job(integration(org, "Pending job"), minutes_ago=60, status=JobStatus.PENDING)
    integration(org, "OAuth grant", is_pending=True, status=IntegrationStatus.INACTIVE)
    integration(org, "Switched off", status=IntegrationStatus.INACTIVE)
    integration(org, "Errored", status=IntegrationStatus.ERROR)
    assert due_names(timezone.now() + timedelta(days=1)) == {"Errored"}


def test_a_job_the_broker_refused_does_not_restart_the_interval(org):
    refused = integration(org, "Refused")
    job(refused, minutes_ago=0, status=JobStatus.FAILED, error_message=NOT_ENQUEUED)
    assert due_names() == {"Refused"}


def test_runs_due_start_starts_each_due_run_once_through_the_request_path(org, make_org):
    due, later = integration(org, "Due"), integration(org, "Later", interval=60)
    job(later, minutes_ago=5)
    other = integration(make_org("Other"), "Other org's")
    assert runs_due_start() == 2
    started = SyncJob.objects.get(integration=due, status=JobStatus.PENDING)
    assert started.triggered_by is None and started.organisation_id == org.id
    assert SyncJob.objects.filter(integration=other, status=JobStatus.PENDING).count() == 1
    assert not SyncJob.objects.filter(integration=later, status=JobStatus.PENDING).exists()
    # Two hours on, the first two are still under way (nothing more starts for them); the other is due.
    assert runs_due_start(now=timezone.now() + timedelta(hours=2)) == 1
    assert SyncJob.objects.filter(integration=due).count() == 1
    assert SyncJob.objects.filter(integration=later, status=JobStatus.PENDING).count() == 1


def test_an_organisation_whose_subscription_lapsed_is_not_scheduled(make_org):
    integration(make_org("Lapsed", status=SubscriptionStatus.PAST_DUE), "Lapsed")
    trial = make_org("Trial over", status=SubscriptionStatus.TRIALING)
    Organisation.objects.filter(pk=trial.pk).update(trial_ends_at=timezone.now() - timedelta(minutes=1))
    integration(Organisation.objects.get(pk=trial.pk), "Trial")
    assert runs_due_start() == 0
    assert not SyncJob.objects.exists()


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit, as in production
def test_a_broker_failure_for_one_does_not_stop_the_others(org, unreachable_broker):  # noqa: F811
    first, second = integration(org, "First"), integration(org, "Second")
    assert runs_due_start() == 0
    # Both were tried: each has the failed job the refused enqueue leaves, and none is left pending.
    for scheduled in (first, second):
        assert list(SyncJob.objects.filter(integration=scheduled).values_list("status", "error_message")) == [
            (JobStatus.FAILED, NOT_ENQUEUED)
        ]
    # ...and they stay due for the next tick.
    assert due_names() == {"First", "Second"}


def shelf(organisation, *, sources: str, run_after_sources: bool = True, **fields) -> Integration:
    made = Integration(
        organisation=organisation, type="shelf", name="Shelf", run_after_sources=run_after_sources, **fields
    )
    made.config = {"base_url": "http://127.0.0.1:9", "api_key": "k", "sources": sources, "batch_size": 50}
    made.save()
    return made


def started_job(integration, *, status=JobStatus.COMPLETED) -> SyncJob:
    return SyncJob.objects.create(
        organisation_id=integration.organisation_id,
        integration=integration,
        status=status,
        started_at=timezone.now(),
    )


def test_a_destination_busy_when_its_source_completes_runs_again_after_its_own_run(org, make_org):
    source = integration(org, "Source", interval=None)
    busy = shelf(org, sources=str(source.pk))
    busy_job = started_job(busy, status=JobStatus.RUNNING)
    source_job = started_job(source)
    entries_upsert(integration=source, records=[Record("a", "A", "alpha"), Record("b", "B", "beta")])
    idle = shelf(org, sources="")  # empty: every source of the organisation
    not_following = shelf(org, sources=str(source.pk), run_after_sources=False)
    shelf(org, sources="", is_pending=True, status=IntegrationStatus.INACTIVE)
    shelf(make_org("Other"), sources="")
    # The busy one answers with its running job (no second run); the idle one starts.
    assert destination_runs_after_source(source_job) == 1
    assert list(SyncJob.objects.filter(integration=busy).values_list("pk", flat=True)) == [busy_job.pk]
    assert SyncJob.objects.filter(integration=idle, status=JobStatus.PENDING).count() == 1
    assert not SyncJob.objects.filter(integration=not_following).exists()
    assert SyncJob.objects.filter(integration__type="shelf").count() == 2
    # Its run ends having passed the new entries by: it starts again, once.
    SyncJob.objects.filter(pk=busy_job.pk).update(status=JobStatus.COMPLETED)
    busy_job.refresh_from_db()
    assert destination_runs_after_source(busy_job) == 1
    again = SyncJob.objects.get(integration=busy, status=JobStatus.PENDING)
    # That run, ending with nothing of its sources changed while it ran, starts nothing more.
    SyncJob.objects.filter(pk=again.pk).update(status=JobStatus.COMPLETED, started_at=timezone.now())
    again.refresh_from_db()
    assert destination_runs_after_source(again) == 0


def test_a_source_sync_that_wrote_nothing_due_starts_nothing(org):
    source = integration(org, "Source", interval=None)
    entries_upsert(integration=source, records=[Record("a", "A", "alpha")])
    destination = shelf(org, sources=str(source.pk))
    # Written before this sync began: not this sync's doing (the schedule or a manual run publishes it).
    assert destination_runs_after_source(started_job(source)) == 0
    assert not SyncJob.objects.filter(integration=destination).exists()
