"""Records made ready for the write path where they are pulled, in a slice's own thread.

The run's thread writes the batches of every slice one after another; cleaning and hashing each
record there (about a third of its work) made it the pull's bottleneck while the slices waited for
it. A slice prepares its records before handing them over, so the run's thread only writes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from connectors.base import Checkpoint, Record, RecordFailure
from integrations.knowledge.writes import PreparedEntry, entry_prepared_or_refused

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """A pulled record and what the write path will store of it (or why it refuses it)."""

    # As the connector yielded it: the engine's counts, order and files read this one.
    record: Record
    entry: PreparedEntry | RecordFailure

    @property
    def external_id(self) -> str:
        return self.record.external_id


def record_prepared(record: Record) -> PreparedRecord:
    return PreparedRecord(record, entry_prepared_or_refused(record))


def records_prepared(items: Iterator[T]) -> Iterator[T | PreparedRecord]:
    """`items`, each Record prepared (`PreparedRecord`) and each Checkpoint's state copied while the
    connector waits at its yield (it may go on changing that dict: the copy is what it was then); the
    other items as they are."""
    try:
        for item in items:
            if isinstance(item, Record):
                yield record_prepared(item)
            elif isinstance(item, Checkpoint):
                yield Checkpoint(copy.deepcopy(item.state))
            else:
                yield item
    finally:
        closed(items)


def closed(items: Iterator) -> None:
    """Closing a wrapper closes what it wraps: a slice's generator then waits for its page in flight
    now, in the thread that pulled it, not whenever it is collected."""
    close = getattr(items, "close", None)
    if close is not None:
        close()
