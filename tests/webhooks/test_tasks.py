"""The beat task that prunes delivery records older than the replay window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from integrations.models import KnowledgeEntry
from tests.webhooks.helpers import post_signed, post_standard, receive_path
from webhooks import tasks
from webhooks.models import WebhookDelivery
from webhooks.services import REPLAY_WINDOW

pytestmark = pytest.mark.django_db


def test_prune_deletes_only_deliveries_older_than_the_replay_window(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    for key in ("old", "edge", "new"):
        assert post_standard(path, {"text": key}, secret, msg_id=key).status_code == 202
    now = timezone.now()
    WebhookDelivery.objects.filter(idempotency_key="old").update(created_at=now - REPLAY_WINDOW - timedelta(seconds=5))
    WebhookDelivery.objects.filter(idempotency_key="edge").update(
        created_at=now - REPLAY_WINDOW + timedelta(seconds=30)
    )

    assert tasks.prune_deliveries.apply().get() == 1

    assert set(WebhookDelivery.objects.values_list("idempotency_key", flat=True)) == {"edge", "new"}
    assert KnowledgeEntry.objects.count() == 3  # entries stay


def test_replay_window_covers_a_timestamp_at_either_edge_of_the_tolerance():
    assert REPLAY_WINDOW == timedelta(seconds=600)


def test_a_retry_after_pruning_updates_the_same_entry(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    first = post_standard(path, {"text": "once"}, secret, msg_id="msg_p").json()
    knora = post_signed(path, {"text": "body only"}, secret, headers={"Idempotency-Key": "k"}).json()
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=1))
    tasks.prune_deliveries.apply()

    assert post_standard(path, {"text": "once"}, secret, msg_id="msg_p").json()["entry_id"] == first["entry_id"]
    retry = post_signed(path, {"text": "body only"}, secret, headers={"Idempotency-Key": "k"}).json()
    assert retry["entry_id"] == knora["entry_id"]
    assert KnowledgeEntry.objects.count() == 2


def test_prune_is_on_the_beat_schedule():
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert "webhooks.prune_deliveries" in schedule
    assert schedule["webhooks.prune_deliveries"]["schedule"] <= REPLAY_WINDOW.total_seconds()
