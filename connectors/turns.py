"""Turns to compute: a run lets only so many of its slice threads run Python at once, each lending its
turn out while it waits (on an upstream, on the run's hand-over queue).

One process runs Python in one thread at a time (the GIL); mapping in four slice threads at once is no
faster than in one, but every runnable thread takes the GIL from the run's writer thread whenever its
database round trip returns, so the writer waited behind all of them. A slice holds a turn
(`turn_held`) while it maps; waits go through `turn_lent`, so the slices' I/O still overlaps. A lock
is waited for the same way (a token's renewal): its holder may be waiting for a turn.

A turn belongs to a thread, not to a context: a thread started with a slice's context (Haiilo's page
read-ahead) holds none of its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_held = threading.local()


@contextlib.contextmanager
def turn_held(turns: threading.Semaphore) -> Iterator[None]:
    """Run the body with one of `turns`, lent out by `turn_lent` while the body waits."""
    turns.acquire()
    _held.turns = turns
    try:
        yield
    finally:
        _held.turns = None
        turns.release()


@contextlib.contextmanager
def turn_lent() -> Iterator[None]:
    """Around a wait: this thread's turn, if it holds one, is someone else's meanwhile. Nested waits
    lend it once."""
    turns = getattr(_held, "turns", None)
    if turns is None:
        yield
        return
    _held.turns = None
    turns.release()
    try:
        yield
    finally:
        turns.acquire()
        _held.turns = turns
