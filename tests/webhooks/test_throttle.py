"""WEBHOOK_RECEIVE_RATE: deliveries per integration in Django's default cache, 429 RATE_LIMITED with Retry-After."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import override_settings

from hub import settings as hub_settings
from integrations.models import KnowledgeEntry
from tests.webhooks.helpers import assert_error, post_signed, receive_path
from webhooks.throttles import WebhookReceiveThrottle

pytestmark = pytest.mark.django_db

# Local memory always; Redis too when the run has one (the broker is Redis), as in production.
# Each test's integration is new, so its counters are too: nothing is cleared (on Redis that would
# flush the broker's database under a running worker).
CACHE_BACKENDS = {"locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}}
if django_settings.CELERY_BROKER_URL.startswith("redis://"):
    CACHE_BACKENDS["redis"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": django_settings.CELERY_BROKER_URL,
        "KEY_PREFIX": "tributary-test",
    }


@pytest.fixture(params=sorted(CACHE_BACKENDS))
def each_cache(request):
    with override_settings(CACHES={"default": CACHE_BACKENDS[request.param]}):
        expected = {"locmem": "LocMemCache", "redis": "RedisCache"}[request.param]
        assert type(caches["default"]).__name__ == expected
        yield request.param


def test_default_rate_is_6000_per_minute():
    assert hub_settings.WEBHOOK_RECEIVE_RATE == "6000/min"


def test_deliveries_over_the_rate_are_429_with_retry_after(webhook, settings, each_cache):
    settings.WEBHOOK_RECEIVE_RATE = "3/min"
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    answers = [post_signed(path, {"text": f"event {n}"}, secret) for n in range(4)]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert_error(answers[3], 429, "RATE_LIMITED")
    # Sliding window: the full minute weighs in until part of the next has passed, so at most two minutes.
    assert 1 <= int(answers[3]["Retry-After"]) < 120
    assert KnowledgeEntry.objects.count() == 3


def test_the_rate_is_per_integration(admin_client, webhook, settings, each_cache):
    settings.WEBHOOK_RECEIVE_RATE = "2/min"
    other = admin_client.post("/api/v1/integrations/", {"type": "webhook", "name": "Other"}, format="json").json()
    for _ in range(3):
        post_signed(receive_path(webhook["id"]), {"text": "busy"}, webhook["signing_secret"])

    assert post_signed(receive_path(other["id"]), {"text": "quiet"}, other["signing_secret"]).status_code == 202


def test_unsigned_floods_count_too_and_are_refused_before_the_body_is_read(webhook, settings, each_cache):
    settings.WEBHOOK_RECEIVE_RATE = "2/min"
    path = receive_path(webhook["id"])
    for _ in range(2):
        assert_error(post_signed(path, {"text": "x"}, "whsec_wrong"), 403, "FORBIDDEN")

    assert_error(post_signed(path, {"text": "x"}, webhook["signing_secret"]), 429, "RATE_LIMITED")


def test_the_window_slides_and_lets_deliveries_in_again(webhook, settings, each_cache, monkeypatch):
    settings.WEBHOOK_RECEIVE_RATE = "1/min"
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    start = (time.time() // 60) * 60 + 10  # 10 s into a window, so the steps below fall where they say

    def at(seconds: float) -> None:
        monkeypatch.setattr(WebhookReceiveThrottle, "timer", staticmethod(lambda: start + seconds))

    at(0)
    assert post_signed(path, {"text": "one"}, secret).status_code == 202
    assert post_signed(path, {"text": "two"}, secret).status_code == 429
    # The window slides (hub.throttles.window_hit): the minute after still weighs the full one in, the
    # one after that has forgotten it.
    at(125)
    assert post_signed(path, {"text": "two"}, secret).status_code == 202
