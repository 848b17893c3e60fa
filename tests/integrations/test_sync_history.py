"""Sync history pruning (integrations.runs.history): finished jobs older than SYNC_HISTORY_DAYS go,
each integration keeps at least its SYNC_HISTORY_KEEP_MIN latest, running and pending jobs stay, and
`GET /history` returns every job kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from hub.queues import route_task
from integrations.models import JobStatus, SyncJob
from integrations.runs.history import sync_history_prune
from integrations.tasks import prune_sync_history

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
KEEP = 20


def integration(admin_client, name: str) -> str:
    response = admin_client.post(BASE, {"type": "webhook", "name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def jobs(org, integration_id: str, count: int, *, days_old: float, status: str = JobStatus.COMPLETED) -> list[str]:
    """`count` jobs created `days_old` days ago, a minute apart (created_at is set on insert: moved after)."""
    ids = []
    for n in range(count):
        job = SyncJob.objects.create(organisation=org, integration_id=integration_id, status=status)
        created = timezone.now() - timedelta(days=days_old, minutes=n)
        SyncJob.objects.filter(pk=job.pk).update(created_at=created, completed_at=created)
        ids.append(str(job.pk))
    return ids


def history(admin_client, integration_id: str) -> dict:
    response = admin_client.get(f"{BASE}{integration_id}/history")
    assert response.status_code == 200, response.content
    return response.json()


def test_old_finished_jobs_are_pruned_keeping_the_latest_twenty_and_history_shows_all_kept(admin_client, org):
    busy = integration(admin_client, "Busy")
    recent = jobs(org, busy, 5, days_old=1)
    old = jobs(org, busy, 15, days_old=100) + jobs(org, busy, 15, days_old=200, status=JobStatus.FAILED)

    deleted = sync_history_prune(chunk=4)  # small chunks: several DELETE statements

    assert deleted == 15
    kept = history(admin_client, busy)
    assert kept["total"] == KEEP
    assert [job["id"] for job in kept["jobs"]] == recent + old[:15]  # newest first


def test_an_integration_with_no_more_than_twenty_jobs_keeps_them_all_however_old(admin_client, org):
    quiet = integration(admin_client, "Quiet")
    old = jobs(org, quiet, KEEP, days_old=400)

    assert sync_history_prune() == 0
    assert {job["id"] for job in history(admin_client, quiet)["jobs"]} == set(old)


def test_running_and_pending_jobs_are_never_pruned(admin_client, org):
    for status in (JobStatus.RUNNING, JobStatus.PENDING):
        target = integration(admin_client, f"Has one {status}")
        finished = jobs(org, target, KEEP + 3, days_old=100)
        (active,) = jobs(org, target, 1, days_old=300, status=status)

        sync_history_prune()

        kept = {job["id"] for job in history(admin_client, target)["jobs"]}
        assert kept == {active, *finished[:KEEP]}


def test_recent_jobs_are_kept_beyond_twenty(admin_client, org, settings):
    settings.SYNC_HISTORY_DAYS = 30
    frequent = integration(admin_client, "Every five minutes")
    recent = jobs(org, frequent, KEEP + 10, days_old=29)
    jobs(org, frequent, 4, days_old=31)

    assert sync_history_prune() == 4
    assert {job["id"] for job in history(admin_client, frequent)["jobs"]} == set(recent)


def test_beat_prunes_the_history_daily_on_the_default_queue(admin_client, org):
    entry = next(e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == prune_sync_history.name)
    assert entry["schedule"] <= 24 * 3600
    assert route_task(prune_sync_history.name, (), {}, {}) is None  # the default queue, not behind a sync
    old = integration(admin_client, "Old")
    jobs(org, old, KEEP + 1, days_old=django_settings.SYNC_HISTORY_DAYS + 1)

    assert prune_sync_history.apply().get() == 1
