"""The shared HTTP layer's bounds, against real sockets on loopback: the overall deadline, the body cap,
typed errors for answers that are not JSON, and which writes are retried."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.errors import (
    DeadlineExceeded,
    MalformedResponse,
    NotFoundUpstream,
    ResponseTooLarge,
    UpstreamUnavailable,
)
from connectors.http import Reconcile, UpstreamHttpClient
from tests.fakes.faulty_http import FaultyUpstream
from tests.fakes.scripted_http import Scripted, ScriptedHttpServer

CAP = 64 * 1024
READ_CHUNK = 64 * 1024  # the most httpcore reads from a socket at once


@pytest.fixture
def faulty() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(interval=0.2) as server:
        yield server


@pytest.fixture
def upstream() -> Iterator[ScriptedHttpServer]:
    with ScriptedHttpServer() as server:
        yield server


def client(base_url: str, **kwargs) -> UpstreamHttpClient:
    kwargs.setdefault("upstream", "Haiilo")
    kwargs.setdefault("allow_private", True)
    kwargs.setdefault("sleep", lambda seconds: None)
    return UpstreamHttpClient(base_url=base_url, **kwargs)


# --- the overall deadline -------------------------------------------------------------------------


def test_a_trickled_body_ends_at_the_deadline_naming_upstream_and_step(faulty):
    # Each byte comes well within the 2 s read timeout: only the deadline can end this request.
    with client(faulty.url, deadline_seconds=1, read_timeout=2, max_attempts=1) as http:
        with pytest.raises(DeadlineExceeded) as caught:
            http.get("/trickle-body", params={"startId": 7})
    assert str(caught.value) == (
        f"Haiilo: GET {faulty.url}/trickle-body?startId=*** failed after 1 attempt(s): its 1 s deadline passed."
    )
    assert caught.value.retryable and isinstance(caught.value, UpstreamUnavailable)
    assert faulty.sent["/trickle-body"] < 1000  # the client hung up long before the body's end


def test_trickled_headers_end_at_the_deadline_too(faulty):
    with client(faulty.url, deadline_seconds=1, read_timeout=2, max_attempts=1) as http:
        with pytest.raises(DeadlineExceeded, match=r"^Haiilo: GET .*/trickle-headers failed"):
            http.get("/trickle-headers")
    assert faulty.sent["/trickle-headers"] < 10_000


def test_a_deadline_is_retried_for_get_and_not_for_post(faulty):
    with client(faulty.url, deadline_seconds=0.5, read_timeout=2, max_attempts=2) as http:
        with pytest.raises(DeadlineExceeded, match="after 2 attempt"):
            http.get("/trickle-body")
        with pytest.raises(DeadlineExceeded, match="after 1 attempt"):
            http.post("/trickle-body", json={})
    assert faulty.requests["/trickle-body"] == 3


def test_the_deadline_setting_is_the_default(faulty, settings):
    settings.UPSTREAM_REQUEST_DEADLINE_SECONDS = 0.5
    with client(faulty.url, read_timeout=2, max_attempts=1) as http:
        assert http.deadline_seconds == 0.5
        with pytest.raises(DeadlineExceeded, match="its 0.5 s deadline"):
            http.get("/trickle-body")


def test_a_streamed_download_is_bound_by_the_deadline_and_fails_typed(faulty):
    with client(faulty.url, deadline_seconds=1, read_timeout=2, max_attempts=1) as http:
        with pytest.raises(DeadlineExceeded, match="trickle-body"):
            with http.stream("GET", "/trickle-body") as response:
                for _ in response.iter_bytes():
                    pass


# --- the body cap ---------------------------------------------------------------------------------


def test_a_content_length_over_the_cap_is_refused_before_reading(faulty):
    # The server holds the body back: reading it would run into the deadline, not the cap.
    with client(faulty.url, max_body_bytes=CAP, deadline_seconds=5, max_attempts=1) as http:
        with pytest.raises(ResponseTooLarge) as caught:
            http.get("/declared-large")
    assert str(caught.value) == (
        f"Haiilo: GET {faulty.url}/declared-large returned 200 with a body over the {CAP}-byte cap "
        "(10485760 bytes by its Content-Length)."
    )
    assert not caught.value.retryable and faulty.sent["/declared-large"] == 0


def test_a_body_without_content_length_stops_at_the_cap(faulty):
    with client(faulty.url, max_body_bytes=CAP, max_attempts=1) as http:
        with pytest.raises(ResponseTooLarge, match=f"over the {CAP}-byte cap") as caught:
            http.get("/endless")
    assert caught.value.bytes_read <= CAP + READ_CHUNK
    # What the server got out before the client hung up: the socket buffers, far from the 64 MB.
    assert faulty.sent["/endless"] < 16 * 1024 * 1024


def test_the_cap_setting_is_the_default(faulty, settings):
    settings.UPSTREAM_MAX_BODY_BYTES = CAP
    with client(faulty.url, max_attempts=1) as http:
        with pytest.raises(ResponseTooLarge):
            http.get("/endless")


def test_a_stream_has_its_own_cap(upstream):
    upstream.script("/file", Scripted(200, body=b"x" * 5000), Scripted(200, body=b"x" * 5000))
    with client(upstream.url, max_body_bytes=100) as http:
        with http.stream("GET", "/file", max_body_bytes=10_000) as response:
            assert len(b"".join(response.iter_bytes())) == 5000
        with pytest.raises(ResponseTooLarge, match="over the 1000-byte cap"):
            with http.stream("GET", "/file", max_body_bytes=1000) as response:
                b"".join(response.iter_bytes())


# --- answers that are not JSON --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (Scripted(200, headers={"Content-Type": "application/json"}, body='{"a": [1, '), "not valid JSON"),
        (Scripted(200, headers={"Content-Type": "text/html"}, body="<html><body>Sign in</body></html>"), "HTML page"),
        (Scripted(200, body="<!DOCTYPE html><html></html>"), "HTML page"),
    ],
)
def test_malformed_json_and_an_html_200_are_typed_naming_upstream_step_and_status(upstream, answer, what):
    upstream.script("/events", answer)
    with client(upstream.url) as http:
        with pytest.raises(MalformedResponse) as caught:
            http.get_json("/events", params={"startId": 1})
    message = str(caught.value)
    assert message.startswith(f"Haiilo: GET {upstream.url}/events?startId=*** returned 200 with ") and what in message
    assert caught.value.status_code == 200 and not caught.value.retryable


def test_a_truncated_body_is_retried_for_get_then_fails_typed(faulty):
    with client(faulty.url, max_attempts=3) as http:
        with pytest.raises(UpstreamUnavailable, match=r"^Haiilo: GET .*/truncated failed after 3 attempt\(s\)"):
            http.get("/truncated")
    assert faulty.requests["/truncated"] == 3


# --- which writes are retried ---------------------------------------------------------------------

WRITES = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", ["GET", *WRITES])
@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_are_retried_for_every_method(upstream, method, status):
    upstream.script("/items", Scripted(status), Scripted(200, body={"ok": True}))
    with client(upstream.url) as http:
        assert http.request(method, "/items").status_code == 200
    assert len(upstream.requests_to("/items")) == 2


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_write_that_may_have_applied_is_not_retried_without_reconcile(upstream, method, status):
    upstream.script("/items", Scripted(status), Scripted(200))
    with client(upstream.url) as http:
        with pytest.raises(UpstreamUnavailable, match=f"^Haiilo: {method} .*/items returned {status}.$"):
            http.request(method, "/items")
    assert len(upstream.requests_to("/items")) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_get_is_retried_on_5xx(upstream, status):
    upstream.script("/items", Scripted(status), Scripted(200))
    with client(upstream.url) as http:
        assert http.get("/items").status_code == 200
    assert len(upstream.requests_to("/items")) == 2


@pytest.mark.parametrize("method", WRITES)
def test_a_write_reset_after_sending_is_not_retried_without_reconcile_but_get_is(faulty, method):
    with client(faulty.url, max_attempts=2) as http:
        with pytest.raises(UpstreamUnavailable, match=f"^Haiilo: {method} .*/reset failed after 1 attempt"):
            http.request(method, "/reset", json={})
        with pytest.raises(UpstreamUnavailable, match="^Haiilo: GET .*/reset failed after 2 attempt"):
            http.get("/reset")
    assert faulty.requests["/reset"] == 3


@pytest.mark.parametrize("method", WRITES)
def test_a_write_with_reconcile_is_retried(upstream, method):
    upstream.script("/items", Scripted(500), Scripted(200))
    with client(upstream.url) as http:
        assert http.request(method, "/items", reconcile=Reconcile()).status_code == 200
    assert len(upstream.requests_to("/items")) == 2


def test_reconcile_that_finds_the_write_applied_returns_its_finding_without_a_retry(upstream):
    upstream.script("/items/1", Scripted(500), Scripted(200))
    upstream.script("/items/1/look", Scripted(200, body={"version": 2}))
    with client(upstream.url) as http:
        found = Reconcile(applied=lambda: http.get("/items/1/look"))
        assert http.put("/items/1", reconcile=found).json() == {"version": 2}
    assert len(upstream.requests_to("/items/1")) == 1 and len(upstream.requests_to("/items/1/look")) == 1


def test_reconcile_that_finds_nothing_retries_the_write(upstream):
    upstream.script("/items/1", Scripted(500), Scripted(200, body={"version": 2}))
    looks: list[int] = []
    with client(upstream.url) as http:
        nothing = Reconcile(applied=lambda: looks.append(1))
        assert http.put("/items/1", reconcile=nothing).json() == {"version": 2}
    assert looks == [1] and len(upstream.requests_to("/items/1")) == 2


def test_a_success_status_counts_only_on_a_retry(upstream):
    upstream.script("/items/1", Scripted(404), Scripted(500), Scripted(404))
    gone = Reconcile(success_statuses=frozenset({404}))
    with client(upstream.url) as http:
        with pytest.raises(NotFoundUpstream, match=r"^Haiilo: DELETE .*/items/1 returned 404 Not Found\.$"):
            http.delete("/items/1", reconcile=gone)
        assert http.delete("/items/1", reconcile=gone).status_code == 404
    assert len(upstream.requests_to("/items/1")) == 3


def test_a_connect_error_is_retried_for_a_write():
    with client("http://127.0.0.1:9", max_attempts=2) as http:
        with pytest.raises(UpstreamUnavailable, match=r"^Haiilo: POST .* failed after 2 attempt\(s\): ConnectError"):
            http.post("/items", json={})


def test_a_deadline_on_a_write_is_retried_with_reconcile(faulty):
    with client(faulty.url, deadline_seconds=0.5, max_attempts=2) as http:
        with pytest.raises(DeadlineExceeded, match="after 2 attempt"):
            http.put("/trickle-body", json={}, reconcile=Reconcile())
    assert faulty.requests["/trickle-body"] == 2


def test_the_layer_reads_every_body_as_a_stream(upstream):
    # A body read under the cap is whole afterwards: callers use .json(), .text and .content as before.
    upstream.script("/items", Scripted(200, body={"items": [1, 2, 3]}))
    with client(upstream.url) as http:
        response = http.get("/items")
    assert isinstance(response, httpx.Response) and response.json() == {"items": [1, 2, 3]}


# --- each connector's own deadline ----------------------------------------------------------------


def _haiilo(url: str):
    from connectors.haiilo.client import HaiiloClient

    return HaiiloClient(base_url=url, client_id="id", client_secret="secret", max_attempts=1).token


def _confluence(url: str):
    from connectors.confluence.client import ConfluenceClient

    return lambda: ConfluenceClient(root=url, max_attempts=1).page("1", [])


def _leena(url: str):
    from connectors.leena.client import LeenaClient

    client = LeenaClient(
        api_base_url=url, auth_url=url, client_id="id", client_secret="s", username="u", password="p",
        token_max_attempts=1,
    )  # fmt: skip
    return client.token


def _leanix(url: str):
    from connectors.leanix.client import LeanIXClient

    return LeanIXClient(base_url=url, api_token="api-token-123456", max_attempts=1).token


@pytest.mark.parametrize(
    ("prefix", "name", "call"),
    [
        ("HAIILO", "Haiilo", _haiilo),
        ("CONFLUENCE", "Confluence", _confluence),
        ("LEENA", "Leena AI", _leena),
        ("LEANIX", "SAP LeanIX", _leanix),
    ],
)
def test_each_connector_has_its_own_deadline_and_names_itself(settings, prefix, name, call):
    settings.UPSTREAM_REQUEST_DEADLINE_SECONDS = 30  # the connector's own wins
    setattr(settings, f"{prefix}_REQUEST_DEADLINE_SECONDS", 0.5)
    with FaultyUpstream(interval=0.2, every_path="trickle-body") as server:
        with pytest.raises(DeadlineExceeded, match=rf"^{name}: (GET|POST) {server.url}/.* its 0.5 s deadline passed"):
            call(server.url)()
