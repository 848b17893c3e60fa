"""Integrations: one connection of an organisation to an upstream, with sealed config and tokens."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from hub.crypto import SealedJSON, SealedModelMixin
from hub.models import Organisation


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ERROR = "error"
    SYNCING = "syncing"


class Integration(SealedModelMixin, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="integrations")
    type = models.CharField(max_length=50)
    name = models.CharField(max_length=255)
    status = models.CharField(
        max_length=10, choices=IntegrationStatus.choices, default=IntegrationStatus.ACTIVE
    )
    # Created by the OAuth callback, waiting for POST / with pending_integration_id.
    is_pending = models.BooleanField(default=False)
    config_sealed = models.TextField(blank=True, default="", editable=False)
    credentials_sealed = models.TextField(blank=True, default="", editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    config = SealedJSON("config_sealed")
    credentials = SealedJSON("credentials_sealed")

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["organisation", "type"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"
