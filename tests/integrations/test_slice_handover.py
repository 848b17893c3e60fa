"""How a sliced pull hands its items to the run's thread: prepared for the write path in the slice's
own thread, mapped by one slice at a time, in chunks that keep their order, through a queue bounded by
items (integrations.runs)."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from connectors.base import Checkpoint, Deletion, Found, Record, RecordFailure, Skipped, Warning
from connectors.capabilities import SlicePlan
from connectors.http import wait_upstream
from integrations.knowledge.writes import PreparedEntry, content_hash
from integrations.runs.prepared import PreparedRecord, records_prepared
from integrations.runs.slices import CHUNK_MAX_ITEMS, MAPPING_TURNS, SliceRun, _ItemsQueue, chunked


def a_record(n: int, **fields) -> Record:
    return Record(external_id=f"r{n}", title=f"Title {n}", content=f"Text {n}", **fields)


def test_a_pages_items_and_its_cursor_reach_the_run_in_one_chunk_and_in_order():
    page = [a_record(n) for n in range(3)] + [Deletion("gone"), Skipped("s", "draft"), RecordFailure("f", "bad")]
    items = [*page, Checkpoint({"events": 6}), Found(9), a_record(7), Warning("late"), a_record(8)]
    chunks = list(chunked(iter(items)))
    assert [item for chunk in chunks for item in chunk] == items
    # An entry's item waits for what follows it; a cursor, a total or a warning ends its chunk.
    assert [len(chunk) for chunk in chunks] == [7, 1, 2, 1]


def test_a_chunk_holds_at_most_chunk_max_items_entries():
    items = [a_record(n) for n in range(CHUNK_MAX_ITEMS * 2 + 5)]
    assert [len(chunk) for chunk in chunked(iter(items))] == [CHUNK_MAX_ITEMS, CHUNK_MAX_ITEMS, 5]


def test_the_hand_over_queue_is_bounded_by_the_items_of_its_chunks_not_by_their_number():
    handed = _ItemsQueue(10)
    handed.put(("slice", list(range(6))))
    handed.put(("slice", list(range(6))))  # 6 < 10 items: taken, even though it overshoots
    with pytest.raises(queue.Full):
        handed.put(("slice", [1]), timeout=0.01)
    assert handed.get()[1] == list(range(6)) and handed.qsize() == 6
    handed.put(("end", None))  # an end or a failure counts one
    assert handed.qsize() == 7


def test_records_are_prepared_where_they_are_pulled_and_a_refused_one_becomes_its_failure():
    clean = a_record(1, metadata={"b": 2, "a": "é"})
    refused = Record(external_id="bad\x00id", title="T", content="C")
    checkpoint = Checkpoint({"events": 2})
    first, second, third = records_prepared(iter([clean, refused, checkpoint]))

    assert isinstance(first, PreparedRecord) and first.record is clean and first.external_id == "r1"
    assert isinstance(first.entry, PreparedEntry)
    assert first.entry.metadata_json == '{"a": "\\u00e9", "b": 2}'
    assert first.entry.content_hash == content_hash(clean)  # what the write path would compute itself
    assert isinstance(second, PreparedRecord) and isinstance(second.entry, RecordFailure)
    assert "external id" in second.entry.reason
    # A cursor is copied as it is yielded: the connector may go on changing its own dict.
    assert third == checkpoint and third.state is not checkpoint.state


def test_closing_the_hand_over_closes_the_slices_own_generator_at_once():
    finished = []

    def slice_items():
        try:
            yield a_record(1)
            yield Checkpoint({"events": 1})
            yield a_record(2)
        finally:
            finished.append("closed")  # a real slice waits here for its page in flight

    pulled = slice_items()  # held, as the engine holds it: its closing must not wait for collection
    chunks = chunked(records_prepared(pulled))
    assert [type(item) for item in next(chunks)] == [PreparedRecord, Checkpoint]
    chunks.close()
    assert finished == ["closed"]


class _AtOnce:
    """How many threads are inside a section at once, at most."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            yield
        finally:
            with self.lock:
                self.now -= 1


class _WaitingThenMapping:
    """A sliced pull whose slices wait on their upstream for each page, then map it (the mapping's CPU is
    stood in for by a sleep that holds the thread, as CPU work would)."""

    slices_key = "parts"

    def __init__(self, slices: int) -> None:
        self.names = tuple(f"s{n}" for n in range(slices))
        self.waiting, self.mapping = _AtOnce(), _AtOnce()

    @contextlib.contextmanager
    def pull_slices(self, checkpoint: dict) -> Iterator[SlicePlan]:
        yield SlicePlan(slices=self.names, pull_slice=self._pull_slice)

    def _pull_slice(self, name: str, state: dict) -> Iterator:
        for page in range(3):
            with self.waiting.inside():
                wait_upstream(0.05)
            with self.mapping.inside():
                time.sleep(0.01)
                yield Record(external_id=f"{name}-{page}", title="T", content="C")
            yield Checkpoint({"page": page})


def test_slices_wait_on_their_upstreams_at_once_but_map_one_at_a_time():
    pull = _WaitingThenMapping(slices=4)
    items = [item for item in SliceRun(pull, {}, concurrency=4).items() if item is not None]
    assert {item.external_id for item in items if isinstance(item, PreparedRecord)} == {
        f"s{n}-{page}" for n in range(4) for page in range(3)
    }
    assert pull.waiting.most == 4  # the upstream's latency is still hidden
    assert pull.mapping.most == MAPPING_TURNS == 1  # the GIL is not fought over by the mappers


class _ChangingItsState:
    """A sliced pull whose slices yield one dict as their cursor and go on changing it after."""

    slices_key = "parts"

    @contextlib.contextmanager
    def pull_slices(self, checkpoint: dict) -> Iterator[SlicePlan]:
        yield SlicePlan(slices=("a", "b"), pull_slice=self._pull_slice)

    def _pull_slice(self, name: str, state: dict) -> Iterator:
        cursor = {"pages": {}}
        for page in range(3):
            cursor["pages"][f"{name}{page}"] = page
            yield Checkpoint(cursor)


def test_a_cursor_the_run_took_stays_as_it_was_while_its_slice_goes_on_and_the_others_move_on():
    taken = [item.state for item in SliceRun(_ChangingItsState(), {"kept": 1}, concurrency=2).items()
             if item is not None]  # fmt: skip
    pages = [{name: sorted(state["pages"]) for name, state in whole["parts"].items()} for whole in taken]
    # Each whole cursor is what every slice had reached then: one page more of one slice at a time.
    assert [sum(len(names) for names in slices.values()) for slices in pages] == [1, 2, 3, 4, 5, 6]
    for whole in pages:
        for name, names in whole.items():
            assert names == [f"{name}{page}" for page in range(len(names))]
    assert pages[-1] == {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2"]}
    assert all(whole["kept"] == 1 for whole in taken)  # what is not the slices' is kept
