"""Webhook receive throttle: WEBHOOK_RECEIVE_RATE per integration, counted in Django's default cache."""

from __future__ import annotations

import functools
import logging
import math
import uuid

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class WebhookReceiveThrottle(SimpleRateThrottle):
    """DRF's rate format and cache, counted in fixed windows instead of DRF's timestamp list.

    DRF's SimpleRateThrottle reads and rewrites a list of every request time in the window:
    at 6000/min that is a 6000-item value per delivery, and concurrent workers overwrite each
    other's updates. A counter per window is one atomic increment (Redis INCR), so the receive
    path costs a cache round trip or two and no database query. A burst can reach twice the
    rate across a window boundary; that is the usual price of fixed windows.
    """

    scope = "webhook_receive"

    def __init__(self) -> None:
        # The rate is read on each delivery (SimpleRateThrottle reads it once, at import), so
        # operators and tests can change WEBHOOK_RECEIVE_RATE without a restart of the code.
        self.rate = settings.WEBHOOK_RECEIVE_RATE
        self.num_requests, self.duration = _parsed_rate(self.rate)
        self.retry_after = 0

    def allow_integration(self, integration_id: uuid.UUID) -> bool:
        """Count one delivery for the integration; False when its window is already full."""
        if self.num_requests is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"throttle:{self.scope}:{integration_id}:{window}"
        try:
            count = self._increment(key)
        except Exception:
            # A cache outage must not drop every delivery: the signature still guards the door.
            logger.warning("Webhook throttle cache unavailable; delivery not counted", exc_info=True)
            return True
        if count <= self.num_requests:
            return True
        self.retry_after = max(1, math.ceil((window + 1) * self.duration - now))
        return False

    def _increment(self, key: str) -> int:
        try:
            return self.cache.incr(key)
        except ValueError:  # the window's first delivery (or its key expired)
            if self.cache.add(key, 1, timeout=self.duration + 1):
                return 1
            return self.cache.incr(key)

    def wait(self) -> float:
        return self.retry_after

    def get_cache_key(self, request, view) -> str | None:  # DRF's interface; this throttle counts by id
        return None


@functools.lru_cache(maxsize=8)
def _parsed_rate(rate: str | None) -> tuple[int | None, int | None]:
    return SimpleRateThrottle.parse_rate(None, rate)
