"""Webhook receive throttle: WEBHOOK_RECEIVE_RATE per integration, on the hub's one window counter."""

from __future__ import annotations

import uuid

from hub.throttles import WindowRateThrottle


class WebhookReceiveThrottle(WindowRateThrottle):
    """Deliveries per integration, signed or not, counted before the body is read.

    The receive view is a plain Django view (the signature is its authentication), so it asks
    `allow_integration` itself rather than through DRF's throttle hook. If the cache is down,
    deliveries are let through: the signature still guards the door.
    """

    scope = "webhook-receive"
    rate_setting = "WEBHOOK_RECEIVE_RATE"

    def allow_integration(self, integration_id: uuid.UUID) -> bool:
        return self.allow_ident(str(integration_id))
