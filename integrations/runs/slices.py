"""Concurrent slices of one pull: each slice is fetched and mapped in a thread of its own, while the
run's thread (the one holding the lease and the database connection) writes what they yield.

Threads hide the upstream's latency (a page of Haiilo or Confluence costs a round trip), and the
database write of one batch overlaps with the fetch and mapping of the next (psycopg releases the GIL
while it waits). Only the run's thread touches the lease. A slice's Checkpoint reaches the run's
thread after every item that slice yielded before it, so saving the merged checkpoint after a batch is
written never gets ahead of what is stored; a crash resumes each slice at its own saved state.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections

from connectors.base import Checkpoint, Deletion, Found, PullItem, Record, RecordFailure, Skipped
from connectors.capabilities import SlicedPull, SlicePlan, slice_state, slice_states
from connectors.http import cancel_checked
from connectors.turns import turn_held, turn_lent
from integrations.runs.prepared import PreparedRecord, closed, records_prepared

logger = logging.getLogger(__name__)

# Items are handed over in chunks (`chunked`), not one by one: a lock taken on each side per item, with
# five threads contending for the GIL, cost the run's thread a tenth of its time. A chunk holds up to
# this many entries' items: more than a Haiilo page of the default size, so that a page's items and
# the cursor after them reach the run's thread together.
CHUNK_MAX_ITEMS = 1024
# Items waiting for the run's thread, all slices together: bounds the memory a fast upstream can fill
# while a batch is written (about two batches of records).
QUEUE_MAX_ITEMS = 4000
# How long the run's thread waits for an item before it yields a tick (to heartbeat, or write what it
# has); and how long a slice waits to hand an item over before it checks whether the run stopped.
TICK_SECONDS = 0.5
# Slices of a run that map at once (connectors.turns). One: the GIL runs one of them at a time anyway,
# and each more runnable thread delays the run's writer after every round trip to the database.
MAPPING_TURNS = 1


T = TypeVar("T")


@dataclass(frozen=True)
class SliceCheckpoint:
    """The whole checkpoint after one slice moved on; the engine may save it with its next batch."""

    state: dict[str, Any]


@dataclass(frozen=True)
class _Ended:
    name: str


@dataclass(frozen=True)
class _Failed:
    name: str
    error: BaseException


class SliceRun:
    """The items of a sliced pull, from up to `concurrency` slices at once, in the run's thread."""

    def __init__(self, connector: SlicedPull, checkpoint: dict[str, Any], *, concurrency: int) -> None:
        self.connector = connector
        self.whole, self.states = slice_states(checkpoint, connector.slices_key)
        self.concurrency = max(1, concurrency)
        self.handed: queue.Queue[tuple[str, list[PullItem]] | _Ended | _Failed] = _ItemsQueue(QUEUE_MAX_ITEMS)
        self.stopped = threading.Event()
        self.turns = threading.Semaphore(MAPPING_TURNS)
        self.found: dict[str, int] = {}

    def items(self) -> Iterator[PullItem | SliceCheckpoint | None]:
        """Every slice's items; None now and then while nothing arrives (a tick to heartbeat on)."""
        with self.connector.pull_slices(self.whole) as plan:
            yield from plan.notes
            if plan.slices:
                yield from self._concurrently(plan)
            if plan.finish is not None:
                for item in plan.finish(copy.deepcopy(self.whole)):
                    yield SliceCheckpoint(item.state) if isinstance(item, Checkpoint) else item

    def _concurrently(self, plan: SlicePlan) -> Iterator[PullItem | SliceCheckpoint | None]:
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(plan.slices)), thread_name_prefix="slice")
        try:
            for name in plan.slices:
                pool.submit(self._slice_hand_over, plan, name, slice_state(self.states, name))
            running = len(plan.slices)
            while running:
                try:
                    handed = self.handed.get(timeout=TICK_SECONDS)
                except queue.Empty:
                    yield None
                    continue
                if isinstance(handed, _Ended):
                    running -= 1
                elif isinstance(handed, _Failed):
                    raise handed.error
                else:
                    name, chunk = handed
                    for item in chunk:
                        yield from self._taken(name, item, slices=len(plan.slices))
        finally:
            # A failure, a lost lease or the end: the other slices stop at their next item.
            self.stopped.set()
            self._drain()
            pool.shutdown(wait=True, cancel_futures=True)

    def _taken(self, name: str, item: PullItem, *, slices: int) -> Iterator[PullItem | SliceCheckpoint]:
        if isinstance(item, Checkpoint):
            # The slice's thread copied its state as it was yielded (records_prepared); the whole is then a
            # new mapping of states no one changes. A deep copy of the whole at each cursor grew with
            # every slice done: a sixth of the run's thread on 10,000 Confluence pages in 20 spaces.
            self.states[name] = item.state
            yield SliceCheckpoint({**self.whole, self.connector.slices_key: dict(self.states)})
        elif isinstance(item, Found):
            # The total is known once every slice has told its own.
            self.found[name] = item.total
            if len(self.found) == slices:
                yield Found(sum(self.found.values()))
        else:
            yield item

    def _slice_hand_over(self, plan: SlicePlan, name: str, state: dict[str, Any]) -> None:
        """One slice, in a thread of the pool: hand each item to the run's thread until it ends or stops."""
        try:
            if self.stopped.is_set():
                return
            with cancel_checked(self.stopped.is_set), turn_held(self.turns):
                items = plan.pull_slice(name, state)
                try:
                    for chunk in chunked(records_prepared(items)):
                        with turn_lent():
                            if not self._hand((name, chunk)):
                                return
                finally:
                    items.close()
            self._hand(_Ended(name))
        except BaseException as exc:  # handed over whole: the run's thread decides what it means
            self._hand(_Failed(name, exc))
        finally:
            # A connector that saved rotated credentials from this thread opened a connection of its own.
            connections.close_all()

    def _hand(self, handed: tuple[str, list[PullItem]] | _Ended | _Failed) -> bool:
        return _handed_over(self.handed, handed, self.stopped)

    def _drain(self) -> None:
        while True:
            try:
                self.handed.get_nowait()
            except queue.Empty:
                return


class _ItemsQueue(queue.Queue):
    """A hand-over queue bounded by the items of the chunks in it, not by the chunks: small pages
    make small chunks, and the slices must still be able to fill it while a batch is written."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.items = 0

    def _qsize(self) -> int:
        return self.items

    def _put(self, handed: Any) -> None:
        self.queue.append(handed)
        self.items += _items_in(handed)

    def _get(self) -> Any:
        handed = self.queue.popleft()
        self.items -= _items_in(handed)
        return handed


def _items_in(handed: Any) -> int:
    """A chunk's items, handed as (slice or kind, chunk); anything else (an end, a failure) counts one."""
    return len(handed[1]) if isinstance(handed, tuple) and isinstance(handed[1], list) else 1


# What may wait in a chunk for the items after it.
_ENTRY_ITEMS = (Record, PreparedRecord, Deletion, Skipped, RecordFailure)


def chunked(items: Iterator[T]) -> Iterator[list[T]]:
    """`items` in lists, in order. An entry's item (a record, a deletion, a skip, a failure) waits in
    its chunk for the next item, up to CHUNK_MAX_ITEMS of them; any other item (a cursor, a total, a
    warning) ends its chunk, so the run acts on it at once. A connector that streams records without
    a cursor between them (Confluence, across a space) has them written up to a chunk later."""
    chunk: list[T] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) >= CHUNK_MAX_ITEMS or not isinstance(item, _ENTRY_ITEMS):
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    finally:
        closed(items)


def _handed_over(handed: queue.Queue, value: Any, stopped: threading.Event) -> bool:
    """Put `value` in the bounded queue, waiting while it is full; False once the taker stopped."""
    while not stopped.is_set():
        try:
            handed.put(value, timeout=TICK_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def prefetched(items: Iterator[T]) -> Iterator[T | None]:
    """`items`, produced in a thread of their own (with the caller's context: its waiting hook and
    cancel check) and handed over in chunks (`chunked`) while the caller writes the ones before: one
    slice's fetch and mapping overlap with its database writes. None when a tick passes with nothing
    new; the first error is raised here."""
    handed: queue.Queue[tuple[str, Any]] = _ItemsQueue(QUEUE_MAX_ITEMS)
    stopped = threading.Event()

    def hand(kind: str, value: Any) -> bool:
        return _handed_over(handed, (kind, value), stopped)

    def produce() -> None:
        try:
            for chunk in chunked(items):
                if not hand("chunk", chunk):
                    return
            hand("end", None)
        except BaseException as exc:  # handed over whole: the caller's thread raises it
            hand("failed", exc)
        finally:
            items.close()
            connections.close_all()  # a waiting hook that wrote from this thread opened a connection

    producer = threading.Thread(target=contextvars.copy_context().run, args=(produce,), name="prefetch", daemon=True)
    producer.start()
    try:
        while True:
            try:
                kind, value = handed.get(timeout=TICK_SECONDS)
            except queue.Empty:
                yield None
                continue
            if kind == "end":
                return
            if kind == "failed":
                raise value
            yield from value
    finally:
        stopped.set()
        while producer.is_alive():
            try:
                handed.get(timeout=TICK_SECONDS)
            except queue.Empty:
                continue
        producer.join()
