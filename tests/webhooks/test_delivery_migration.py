"""WebhookDelivery moved from the integrations app to webhooks (integrations/0007, webhooks/0001):
a database migrated before the move keeps its delivery records, and their retries still replay."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.models import Integration
from tests.webhooks.helpers import post_signed, receive_path
from webhooks.models import WebhookDelivery

BEFORE_THE_MOVE = [("integrations", "0006_push_ledger_and_schedule"), ("webhooks", None)]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def leaf_nodes() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_deliveries_recorded_before_the_move_survive_it_and_still_replay(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    first = post_signed(path, {"text": "before the move"}, secret, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202, first.content
    leaves = leaf_nodes()
    try:
        # The database as it stood before the move: the integrations app owns the model.
        executor = migrate(BEFORE_THE_MOVE)
        old_apps = executor.loader.project_state(
            [("integrations", "0006_push_ledger_and_schedule"), ("contenttypes", "0002_remove_content_type_name")]
        ).apps
        old_model = old_apps.get_model("integrations", "WebhookDelivery")
        assert ("webhooks", "webhookdelivery") not in {(m._meta.app_label, m._meta.model_name)
                                                       for m in old_apps.get_models()}  # fmt: skip
        old_rows = list(old_model.objects.values_list("id", "idempotency_key", "entry_id", "accepted"))
        assert len(old_rows) == 1
        old_model.objects.create(
            integration_id=Integration.objects.get(id=webhook["id"]).id,
            idempotency_key="recorded-before",
            entry_id=old_rows[0][2],
            accepted=True,
        )
        # Its content type (and the admin permissions on it) was the integrations app's then.
        content_types = old_apps.get_model("contenttypes", "ContentType")
        assert not content_types.objects.filter(app_label="webhooks", model="webhookdelivery").exists()
        old_content_type, _ = content_types.objects.get_or_create(app_label="integrations", model="webhookdelivery")
    finally:
        migrate(leaves)

    moved = list(WebhookDelivery.objects.order_by("id").values_list("id", "idempotency_key", "entry_id", "accepted"))
    assert moved[0] == old_rows[0] and moved[1][1:] == ("recorded-before", old_rows[0][2], True)
    assert WebhookDelivery._meta.db_table == old_model._meta.db_table
    from django.contrib.contenttypes.models import ContentType

    assert ContentType.objects.get(app_label="webhooks", model="webhookdelivery").id == old_content_type.id
    assert not ContentType.objects.filter(app_label="integrations", model="webhookdelivery").exists()
    # A retry of the delivery made before the move gets its first answer, as before.
    retry = post_signed(path, {"text": "before the move"}, secret, headers={"Idempotency-Key": "k-1"})
    assert retry.status_code == 202 and retry.json() == first.json()
    assert WebhookDelivery.objects.count() == 2
