"""Turns to compute (connectors.turns): held by a thread, lent out while it waits on an upstream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.bearer import BearerTokenClient, CachedToken
from connectors.http import UpstreamHttpClient, wait_upstream
from connectors.turns import turn_held, turn_lent


def taken_elsewhere(turns: threading.Semaphore) -> bool:
    """Can another thread take a turn now? It gives it back at once."""
    taken = []

    def take() -> None:
        if turns.acquire(timeout=0.2):
            taken.append(True)
            turns.release()

    other = threading.Thread(target=take)
    other.start()
    other.join()
    return bool(taken)


def test_a_held_turn_is_lent_while_waiting_and_taken_back_after():
    turns = threading.Semaphore(1)
    with turn_held(turns):
        assert not taken_elsewhere(turns)
        with turn_lent():
            assert taken_elsewhere(turns)
            with turn_lent():  # a nested wait lends it once, not twice
                assert turns.acquire(blocking=False)
                assert not turns.acquire(blocking=False)
                turns.release()
        assert not taken_elsewhere(turns)
    assert taken_elsewhere(turns)


def test_a_thread_without_a_turn_waits_without_lending_one():
    turns = threading.Semaphore(1)
    with turn_lent():
        assert taken_elsewhere(turns)  # nothing was held, nothing released
    assert turns.acquire(blocking=False) and not turns.acquire(blocking=False)


def test_a_turn_is_lent_while_an_upstream_wait_sleeps():
    turns = threading.Semaphore(1)
    seen = []
    with turn_held(turns):
        wait_upstream(0.01, sleep=lambda _: seen.append(taken_elsewhere(turns)))
    assert seen == [True]


class _AnswersOnceLent(BaseHTTPRequestHandler):
    """Answers only once another thread took the turn (or after two seconds), and says which."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        lent = self.server.lent.wait(timeout=2)
        body = json.dumps({"lent": lent}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def slow_upstream() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswersOnceLent)
    server.lent = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_turn_is_lent_while_a_request_waits_for_its_answer(slow_upstream, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = True
    turns = threading.Semaphore(1)

    def take_the_turn() -> None:
        if turns.acquire(timeout=2):
            slow_upstream.lent.set()
            turns.release()

    url = f"http://127.0.0.1:{slow_upstream.server_address[1]}"
    with turn_held(turns), UpstreamHttpClient(base_url=url, max_attempts=1) as client:
        other = threading.Thread(target=take_the_turn)
        other.start()
        answer = client.get_json("/page")
        other.join()
        assert not taken_elsewhere(turns)  # taken back once the answer is in
    assert answer == {"lent": True}


class _Tokens(BearerTokenClient):
    """A client whose token endpoint answers at once (the lock is what is under test)."""

    def __init__(self) -> None:
        super().__init__(token=None, on_new_token=None, clock=lambda: 0.0)

    def token(self) -> CachedToken:
        return self._token_keep(CachedToken.issued("new", expires_in=3600, now=0.0))


def test_a_thread_waiting_for_the_token_lock_lends_its_turn_to_the_lock_holder():
    """The renewal after a 401: the lock's holder fetches a token, then needs a turn again, while the
    thread holding the turn waits for the lock. Were the turn not lent, neither would move."""
    turns, client = threading.Semaphore(1), _Tokens()
    locked, done = threading.Event(), []

    def holder() -> None:
        with client._token_lock:
            locked.set()
            with turn_held(turns):  # the token request is over; this thread maps on
                done.append("holder")

    def waiter() -> None:
        with turn_held(turns):
            locked.wait()
            client.current_token()
            done.append("waiter")

    threads = [threading.Thread(target=waiter, daemon=True), threading.Thread(target=holder, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(done) == ["holder", "waiter"]
