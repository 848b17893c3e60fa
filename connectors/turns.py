"""Turns to compute: a run lets only so many of its threads run Python at once, each lending its turn
out while it waits (on an upstream, a lock, the database, the run's hand-over queue).

One process runs Python in one thread at a time (the GIL); mapping in four slice threads at once is no
faster than in one, but every runnable thread takes the GIL from the run's writer thread whenever its
database round trip returns, so the writer waited behind all of them. A slice holds a turn
(`turn_held`) while it maps; waits go through `turn_lent`, so the slices' I/O still overlaps. A lock
is waited for the same way (a token's renewal): its holder may be waiting for a turn.

The run's writer is the critical path, so it takes its turn first (`urgent`): a slice gives its turn
up at the next item it pulls (`turn_offered`) when the writer waits for one.

A turn belongs to a thread, not to a context: a thread started with a slice's context (Haiilo's page
read-ahead) holds none of its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Turns:
    """`count` turns; a thread that asks with `urgent` is served before every other waiting one."""

    def __init__(self, count: int = 1) -> None:
        self._free = count
        self._changed = threading.Condition(threading.Lock())
        self.urgent_waiting = 0

    def acquire(self, *, urgent: bool = False, timeout: float | None = None) -> bool:
        with self._changed:
            if urgent:
                self.urgent_waiting += 1
                ready = lambda: self._free  # noqa: E731
            else:
                ready = lambda: self._free and not self.urgent_waiting  # noqa: E731
            try:
                taken = bool(self._changed.wait_for(ready, timeout))
            finally:
                if urgent:
                    self.urgent_waiting -= 1
                    self._changed.notify_all()  # the others may go now
            self._free -= taken
            return taken

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()


_held = threading.local()


@contextlib.contextmanager
def turn_held(turns: Turns, *, urgent: bool = False) -> Iterator[None]:
    """Run the body with one of `turns`, lent out by `turn_lent` while the body waits."""
    turns.acquire(urgent=urgent)
    _held.turn = (turns, urgent)
    try:
        yield
    finally:
        _held.turn = None
        turns.release()


@contextlib.contextmanager
def turn_lent() -> Iterator[None]:
    """Around a wait: this thread's turn, if it holds one, is someone else's meanwhile. Nested waits
    lend it once."""
    turn = getattr(_held, "turn", None)
    if turn is None:
        yield
        return
    turns, urgent = turn
    _held.turn, _held.lent = None, turn
    turns.release()
    try:
        yield
    finally:
        turns.acquire(urgent=urgent)
        _held.turn, _held.lent = turn, None


@contextlib.contextmanager
def turn_back() -> Iterator[None]:
    """Inside `turn_lent`: the turn taken back for a stretch of computing."""
    lent = getattr(_held, "lent", None)
    if lent is None:
        yield
        return
    with turn_held(lent[0], urgent=lent[1]):
        _held.lent = None
        try:
            yield
        finally:
            _held.lent = lent


def turn_offered() -> None:
    """Between two items of a slice: give the turn to an urgent thread that waits for one."""
    turn = getattr(_held, "turn", None)
    if turn is not None and turn[0].urgent_waiting and not turn[1]:
        with turn_lent():
            pass
