"""Receiving a verified webhook payload: the entry it makes and the answer replayed for retries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from connectors.webhook.connector import record_from_payload
from integrations.knowledge import entry_upsert_one
from integrations.models import Integration, WebhookDelivery

WEBHOOK_TYPE = "webhook"


@dataclass(frozen=True)
class WebhookReceipt:
    """What the receive endpoint answers: whether an entry was made, and which."""

    accepted: bool
    entry_id: uuid.UUID | None


def webhook_integration_get(*, integration_id: uuid.UUID) -> Integration | None:
    """The webhook integration behind a receive URL, or None (unknown and non-webhook alike).

    The one lookup not scoped by an organisation: the caller has no token, so the
    organisation is the integration's own (Knora's security model, point 3). Only the
    columns the receive path uses are loaded.
    """
    try:
        return (
            Integration.objects.only("id", "organisation_id", "credentials_sealed")
            .order_by()
            .get(pk=integration_id, type=WEBHOOK_TYPE)
        )
    except Integration.DoesNotExist:
        return None


def webhook_signing_secret(*, integration: Integration) -> str | None:
    secret = integration.credentials.get("signing_secret")
    return secret if isinstance(secret, str) and secret else None


def webhook_receive(
    *,
    integration: Integration,
    payload: dict[str, Any],
    raw_body: bytes,
    delivery_key: str | None,
) -> WebhookReceipt:
    """Store a verified payload as a knowledge entry of the integration's organisation.

    Without a delivery key the entry is keyed by the body's hash, so an identical body
    updates the same entry. With one, the first answer is recorded in the same transaction
    as the entry and replayed for every retry, concurrent ones included.
    """
    if delivery_key is None:
        return _entry_store(integration, payload, raw_body, None)
    replay = _delivery_receipt(integration, delivery_key)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            receipt = _entry_store(integration, payload, raw_body, delivery_key)
            WebhookDelivery.objects.create(
                integration=integration,
                idempotency_key=delivery_key,
                entry_id=receipt.entry_id,
                accepted=receipt.accepted,
            )
    except IntegrityError:
        # A concurrent delivery with the same key committed first; ours was rolled back whole.
        replay = _delivery_receipt(integration, delivery_key)
        if replay is None:
            raise
        return replay
    return receipt


def _entry_store(
    integration: Integration, payload: dict[str, Any], raw_body: bytes, delivery_key: str | None
) -> WebhookReceipt:
    record = record_from_payload(payload, raw_body=raw_body, delivery_key=delivery_key)
    if record is None:
        return WebhookReceipt(accepted=False, entry_id=None)
    entry, _created = entry_upsert_one(integration=integration, record=record)
    return WebhookReceipt(accepted=True, entry_id=entry.id)


def _delivery_receipt(integration: Integration, delivery_key: str) -> WebhookReceipt | None:
    row = (
        WebhookDelivery.objects.filter(integration=integration, idempotency_key=delivery_key)
        .values_list("accepted", "entry_id")
        .first()
    )
    if row is None:
        return None
    accepted, entry_id = row
    return WebhookReceipt(accepted=accepted, entry_id=entry_id)
