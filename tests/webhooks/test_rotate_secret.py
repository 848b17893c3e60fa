"""POST /api/v1/integrations/<id>/rotate-secret: a new secret shown once, the old one verifying for
WEBHOOK_SECRET_OVERLAP_HOURS, and a fresh secret verifying at once in a process that kept the old."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.models import Role, SubscriptionStatus
from integrations.models import Integration, KnowledgeEntry
from tests.webhooks.helpers import DEPLOY_BODY, assert_error, post_signed, post_standard, receive_path
from webhooks import services

pytestmark = pytest.mark.django_db


def rotate_path(integration_id) -> str:
    return f"/api/v1/integrations/{integration_id}/rotate-secret"


def rotated(admin_client, webhook) -> dict:
    response = admin_client.post(rotate_path(webhook["id"]))
    assert response.status_code == 200, response.content
    return response.json()


def test_rotation_answers_the_new_secret_once_in_the_shape_of_the_201(admin_client, webhook):
    body = rotated(admin_client, webhook)

    assert set(body) == set(webhook)
    assert body["signing_secret"] != webhook["signing_secret"]
    assert body["signing_secret"].startswith("whsec_")
    assert body["webhook_url"] == webhook["webhook_url"]
    assert {k: v for k, v in body.items() if k not in ("signing_secret", "updated_at")} == {
        k: v for k, v in webhook.items() if k not in ("signing_secret", "updated_at")
    }
    # Shown this once: not in the list nor the stored text.
    listed = admin_client.get("/api/v1/integrations/").content.decode()
    assert body["signing_secret"] not in listed
    sealed = Integration.objects.values_list("credentials_sealed", flat=True).get(id=webhook["id"])
    assert body["signing_secret"].removeprefix("whsec_") not in sealed


def test_new_and_old_secret_both_verify_during_the_overlap(admin_client, webhook):
    path, old = receive_path(webhook["id"]), webhook["signing_secret"]
    assert post_signed(path, {"text": "warm the cache"}, old).status_code == 202
    new = rotated(admin_client, webhook)["signing_secret"]

    assert post_signed(path, {"text": "new knora"}, new).status_code == 202
    assert post_standard(path, {"text": "new standard"}, new, msg_id="m-new").status_code == 202
    assert post_signed(path, {"text": "old knora"}, old).status_code == 202
    assert post_standard(path, {"text": "old standard"}, old, msg_id="m-old").status_code == 202


def age_rotation(integration_id, *, hours: float) -> None:
    """Move time by storing an earlier rotation time instead of sleeping."""
    integration = Integration.objects.get(id=integration_id)
    credentials = integration.credentials
    credentials["secret_rotated_at"] = (timezone.now() - timedelta(hours=hours)).isoformat()
    integration.credentials = credentials
    integration.save()


def test_old_secret_stops_after_the_overlap_and_the_new_one_keeps_working(admin_client, webhook):
    path, old = receive_path(webhook["id"]), webhook["signing_secret"]
    new = rotated(admin_client, webhook)["signing_secret"]
    age_rotation(webhook["id"], hours=23.9)
    assert post_signed(path, {"text": "old, just in time"}, old).status_code == 202

    age_rotation(webhook["id"], hours=24.1)

    assert_error(post_signed(path, {"text": "old, too late"}, old), 403, "FORBIDDEN")
    assert_error(post_standard(path, {"text": "old, too late"}, old, msg_id="late"), 403, "FORBIDDEN")
    assert post_signed(path, {"text": "new"}, new).status_code == 202
    assert not KnowledgeEntry.objects.filter(content="old, too late").exists()


def test_overlap_follows_the_setting(admin_client, webhook, settings):
    settings.WEBHOOK_SECRET_OVERLAP_HOURS = 1
    path, old = receive_path(webhook["id"]), webhook["signing_secret"]
    rotated(admin_client, webhook)
    age_rotation(webhook["id"], hours=1.5)

    assert_error(post_signed(path, {"text": "old"}, old), 403, "FORBIDDEN")


def test_a_second_rotation_ends_the_first_secret(admin_client, webhook):
    path, first = receive_path(webhook["id"]), webhook["signing_secret"]
    second = rotated(admin_client, webhook)["signing_secret"]
    third = rotated(admin_client, webhook)["signing_secret"]

    assert_error(post_signed(path, {"text": "first"}, first), 403, "FORBIDDEN")
    assert post_signed(path, {"text": "second"}, second).status_code == 202
    assert post_signed(path, {"text": "third"}, third).status_code == 202


def test_fresh_secret_verifies_at_once_in_a_process_that_kept_the_old_one(admin_client, webhook, monkeypatch):
    """Another process rotated: this one still keeps the integration with only the old secret."""
    path, old = receive_path(webhook["id"]), webhook["signing_secret"]
    assert post_signed(path, {"text": "warm"}, old).status_code == 202
    stale = services.webhook_target_get(integration_id=Integration.objects.get(id=webhook["id"]).id)
    new = rotated(admin_client, webhook)["signing_secret"]
    # What another process still holds: put the stale copy back into this one.
    with services._INTEGRATIONS_SEEN_LOCK:
        services._INTEGRATIONS_SEEN[stale.integration.id] = stale

    assert post_signed(path, {"text": "new knora"}, new).status_code == 202
    with services._INTEGRATIONS_SEEN_LOCK:
        services._INTEGRATIONS_SEEN[stale.integration.id] = stale
    assert post_standard(path, {"text": "new standard"}, new, msg_id="fresh").status_code == 202


def test_rotation_needs_an_admin(org, make_member, client_for, webhook):
    manager = client_for(make_member(org, Role.MANAGER))

    assert_error(manager.post(rotate_path(webhook["id"])), 403, "INSUFFICIENT_ROLE")
    assert post_signed(receive_path(webhook["id"]), DEPLOY_BODY, webhook["signing_secret"]).status_code == 202


def test_rotation_needs_an_active_subscription(admin_client, webhook, org):
    org.subscription_status = SubscriptionStatus.CANCELED
    org.save()

    assert_error(admin_client.post(rotate_path(webhook["id"])), 402, "SUBSCRIPTION_REQUIRED")


def test_another_organisations_integration_is_a_404(webhook, make_org, make_member, client_for):
    other_admin = client_for(make_member(make_org(name="Globex"), Role.ADMIN))

    assert_error(other_admin.post(rotate_path(webhook["id"])), 404, "NOT_FOUND")
    assert post_signed(receive_path(webhook["id"]), DEPLOY_BODY, webhook["signing_secret"]).status_code == 202


def test_non_webhook_integration_is_a_400(admin_client, org):
    haiilo = Integration(organisation=org, type="haiilo", name="Intranet")
    haiilo.credentials = {"client_secret": "s"}
    haiilo.save()

    assert_error(admin_client.post(rotate_path(haiilo.id)), 400, "VALIDATION_ERROR")
    assert Integration.objects.get(id=haiilo.id).credentials == {"client_secret": "s"}


def test_unknown_integration_is_a_404(admin_client):
    assert_error(admin_client.post(rotate_path("00000000-0000-0000-0000-000000000000")), 404, "NOT_FOUND")
