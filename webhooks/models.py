"""What the webhook receiver keeps of a delivery: the first answer, replayed for retries of it."""

from __future__ import annotations

from django.db import models

from integrations.models import Integration, KnowledgeEntry


class WebhookDelivery(models.Model):
    """The first answer to a delivery with an idempotency key, replayed for retries of it."""

    # The unique (integration, idempotency_key) constraint serves lookups by integration.
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    idempotency_key = models.CharField(max_length=255)
    entry = models.ForeignKey(KnowledgeEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    accepted = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Moved here from the integrations app with its table: the name stays, so the move is a
        # change of Django's state only, with no DDL on a table every delivery writes to.
        db_table = "integrations_webhookdelivery"
        constraints = [models.UniqueConstraint(fields=["integration", "idempotency_key"], name="one_delivery_per_key")]

    def __str__(self) -> str:
        return f"Delivery {self.idempotency_key}"
