"""Bounds of one upstream exchange: an overall deadline and a cap on the body's size.

A read timeout bounds each socket read, not the exchange: a server that trickles a byte a second
never trips it. So every socket of the shared HTTP layer is wrapped (`DeadlineStream`): each read,
write and TLS handshake gets at most the time left before the exchange's deadline, and once it has
passed the next one fails at once. Headers and body go through the same socket reads, so one
deadline bounds connect, headers and the whole body, within one read of the moment it passes.

The deadline of the exchange under way is kept per thread (`Deadline.running`): httpcore reads the
socket in the caller's thread, and a sync client serves one exchange at a time per thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import httpcore
import httpx

_running = threading.local()
# A socket timeout may end a hair before the moment it was set for.
CLOCK_SLACK_SECONDS = 0.005


class Deadline:
    """The moment one exchange must be over by; `expired` records that it cut the exchange short."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False

    @property
    def passed(self) -> bool:
        """Did the deadline end the exchange? (A read cut to the time left times out right at it.)"""
        return self.expired or time.monotonic() >= self.at - CLOCK_SLACK_SECONDS

    def timeout(self, wanted: float | None, error: type[Exception]) -> float:
        """`wanted` (the read/connect timeout) cut to the time left; `error` once none is left."""
        left = self.at - time.monotonic()
        if left <= 0:
            self.expired = True
            raise error(f"The {self.seconds:g} s deadline of the request passed.")
        return left if wanted is None else min(wanted, left)

    @contextlib.contextmanager
    def running(self) -> Iterator[Deadline]:
        """Make this the deadline of the sockets this thread reads until the block ends."""
        outer = getattr(_running, "deadline", None)
        _running.deadline = self
        try:
            yield self
        finally:
            _running.deadline = outer


def _cut(timeout: float | None, error: type[Exception]) -> float | None:
    deadline: Deadline | None = getattr(_running, "deadline", None)
    return timeout if deadline is None else deadline.timeout(timeout, error)


class DeadlineStream(httpcore.NetworkStream):
    """A socket whose every operation ends by the running deadline (none outside an exchange)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        timeout = _cut(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


def connect_timeout(timeout: float | None) -> float | None:
    """The connect timeout cut to the running deadline."""
    return _cut(timeout, httpcore.ConnectTimeout)


class CappedStream(httpx.SyncByteStream):
    """The body as it arrives, failing with `too_large(bytes received)` once more than `cap` bytes came."""

    def __init__(self, inner: httpx.SyncByteStream, *, cap: int, too_large: Callable[[int], Exception]) -> None:
        self._inner, self._cap, self._too_large = inner, cap, too_large
        self.received = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self.received += len(chunk)
            if self.received > self._cap:
                raise self._too_large(self.received)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class TypedFaults(httpx.SyncByteStream):
    """A body read by the caller, its transport faults (a reset, the deadline) raised as `typed(fault)`."""

    def __init__(self, inner: httpx.SyncByteStream, typed: Callable[[Exception], Exception]) -> None:
        self._inner, self._typed = inner, typed

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except httpx.TransportError as exc:
            raise self._typed(exc) from exc

    def close(self) -> None:
        self._inner.close()
