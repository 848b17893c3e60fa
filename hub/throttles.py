"""Rate limits: login per client IP and per email, the API per user; counters in Django's cache.

DRF's own SimpleRateThrottle keeps a list of timestamps that it reads and writes back, so parallel
requests overwrite each other's counts (a burst of logins would all pass). These count with the cache's
atomic `incr` instead, in a sliding window: this minute's count plus last minute's, weighted by the
part of last minute still inside the window.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import weakref
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

if TYPE_CHECKING:  # rest_framework.views imports this module through DEFAULT_THROTTLE_CLASSES
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """`"10/min"` → (10, 60): the number of requests allowed per period of seconds."""
    number, period = rate.split("/")
    return int(number), PERIODS[period[0]]


def window_hit(key: str, *, limit: int, period: int, now: float) -> float | None:
    """Count one request under `key`; None when it is within `limit`, else the seconds to wait."""
    window = int(now // period)
    current, previous = _window_counts(f"{key}:{window}", f"{key}:{window - 1}", timeout=2 * period)
    elapsed = now - window * period
    if current + previous * (1 - elapsed / period) <= limit:
        return None
    return _wait(current=current, previous=previous, limit=limit, period=period, elapsed=elapsed)


def _window_counts(current_key: str, previous_key: str, *, timeout: int) -> tuple[int, int]:
    """This window's count after one more hit, and the previous window's count (0 when absent)."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # `cache` is a proxy to it, so ask for the backend itself
    if isinstance(backend, RedisCache):
        return _window_counts_redis(backend, current_key, previous_key, timeout=timeout)
    return _increment(current_key, timeout=timeout), cache.get(previous_key, 0)


# Django's RedisCache builds a new redis.Redis (and its table of ~160 response callbacks) for every
# call, and its incr is EXISTS then INCRBY: 3 round trips and 2 clients per hit, about 0.9 ms, as
# much as the webhook's whole database write. One client per cache connection and one pipelined
# round trip instead; the counters stay the same cache keys, so either path reads the other's.
_REDIS_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _window_counts_redis(backend: RedisCache, current_key: str, previous_key: str, *, timeout: int) -> tuple[int, int]:
    redis_cache = backend._cache  # Django's RedisCacheClient: its pools, its server list
    client = _REDIS_CLIENTS.get(redis_cache)
    if client is None:
        client = _REDIS_CLIENTS.setdefault(redis_cache, redis_cache.get_client(write=True))
    current_key, previous_key = backend.make_and_validate_key(current_key), backend.make_and_validate_key(previous_key)
    pipe = client.pipeline(transaction=False)
    # The window's first hit creates the key with its timeout (as cache.add would), then counts.
    pipe.set(current_key, 0, ex=timeout, nx=True)
    pipe.incr(current_key)
    pipe.get(previous_key)
    _, current, previous = pipe.execute()
    return int(current), int(previous) if previous is not None else 0


def _increment(key: str, *, timeout: int) -> int:
    """One atomic increment (Redis INCR) in the common case; the window's first hit creates the key."""
    try:
        return cache.incr(key)
    except ValueError:  # no such key yet, or it expired
        if cache.add(key, 1, timeout=timeout):
            return 1
        return cache.incr(key)


def _wait(*, current: int, previous: int, limit: int, period: int, elapsed: float) -> float:
    """Seconds until one more request fits in the window again."""
    room = limit - 1 - current  # what the previous window's weighted share must fall under
    if room >= 0 and previous:
        # Still in this window: the previous one's share shrinks as time passes.
        return max(1.0, period * (1 - room / previous) - elapsed)
    # In the next window this one becomes the previous, weighted down as that window passes.
    later = period * max(0.0, 1 - (limit - 1) / current) if current else 0.0
    return max(1.0, period - elapsed + later)


class WindowRateThrottle(BaseThrottle):
    """A rate named by a setting, counted per what `ident` returns (None: not counted)."""

    scope = ""
    rate_setting = ""
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def ident(self, request: Request, view: APIView) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        ident = self.ident(request, view)
        return True if ident is None else self.allow_ident(ident)

    def allow_ident(self, ident: str) -> bool:
        """Count one request for `ident`; False when its window is full (then `wait()` says how long)."""
        # Read on each request, so operators and tests can change the rate without new code.
        limit, period = parse_rate(getattr(settings, self.rate_setting))
        key = f"throttle:{self.scope}:{ident}"
        try:
            self.wait_seconds = window_hit(key, limit=limit, period=period, now=self.timer())
        except Exception:  # an unreachable cache must not take the API down with it
            logger.warning("Rate limit %s not applied: the cache did not answer", self.scope, exc_info=True)
            return True
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return math.ceil(self.wait_seconds) if self.wait_seconds is not None else None


class LoginIpThrottle(WindowRateThrottle):
    """Logins per client IP (X-Forwarded-For only from the NUM_PROXIES trusted proxies)."""

    scope = "login-ip"
    rate_setting = "AUTH_LOGIN_RATE"

    def ident(self, request: Request, view: APIView) -> str | None:
        # Hashed: behind proxies the address comes from a header the client partly writes.
        return hashlib.sha256(str(self.get_ident(request)).encode("utf-8", "replace")).hexdigest()


class LoginEmailThrottle(WindowRateThrottle):
    """Logins per email, from whatever IPs: guessing one account's password from many addresses."""

    scope = "login-email"
    rate_setting = "AUTH_LOGIN_RATE"

    def ident(self, request: Request, view: APIView) -> str | None:
        email = request.data.get("email") if isinstance(request.data, dict) else None
        if not isinstance(email, str) or not email.strip():
            return None
        return hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()


class ApiUserThrottle(WindowRateThrottle):
    """Requests per authenticated user; anonymous requests are left to their own throttles."""

    scope = "api-user"
    rate_setting = "API_USER_RATE"

    def ident(self, request: Request, view: APIView) -> str | None:
        user = request.user
        if user is None or not user.is_authenticated:
            return None
        return str(user.pk)
