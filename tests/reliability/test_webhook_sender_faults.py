"""The webhook source's row of the fault matrix: its upstream is the sender, faulty on a raw socket to the
live server. Each faulty delivery is answered 4xx in the error envelope and stores nothing; the next good
delivery, sent twice, is stored once; the signing secret is in no answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from integrations.models import KnowledgeEntry
from tests.webhooks.helpers import receive_path
from webhooks.signing import signature_for
from webhooks.views import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db(transaction=True)
GOOD = json.dumps({"title": "Deploy 42", "text": "Release 42 is live."}).encode()


def request_head(path: str, host: str, length: int, signature: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        f"X-Knora-Signature: {signature}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_raw(url: str, write: Callable[[socket.socket], None]) -> tuple[int, dict]:
    """Connect to the live server, let `write` send the request, and read the answer: (status, JSON body)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        write(sock)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def malformed_json(path: str, host: str, secret: str) -> Callable[[socket.socket], None]:
    body = b'{"title": "Deploy 43", "text": "cut'
    return lambda sock: sock.sendall(request_head(path, host, len(body), signature_for(secret, body)) + body)


def truncated(path: str, host: str, secret: str) -> Callable[[socket.socket], None]:
    """A whole JSON object, signed, but the Content-Length promised more; the sender then stops sending."""
    body = json.dumps({"title": "Deploy 44", "text": "Looks complete."}).encode()

    def write(sock: socket.socket) -> None:
        sock.sendall(request_head(path, host, len(body) + 40, signature_for(secret, body)) + body)
        sock.shutdown(socket.SHUT_WR)

    return write


def over_size(path: str, host: str, secret: str) -> Callable[[socket.socket], None]:
    body = json.dumps({"title": "Huge", "text": "x" * (MAX_BODY_BYTES + 10)}).encode()

    def write(sock: socket.socket) -> None:
        # Only the head and a first slice: a larger Content-Length is refused unread.
        sock.sendall(request_head(path, host, len(body), signature_for(secret, body)) + body[:4096])
        sock.shutdown(socket.SHUT_WR)

    return write


def trickling(path: str, host: str, secret: str) -> Callable[[socket.socket], None]:
    """A byte at a time, then the sender gives up half-way and closes its side."""
    body = json.dumps({"title": "Deploy 45", "text": "Slowly, slowly."}).encode()

    def write(sock: socket.socket) -> None:
        sock.sendall(request_head(path, host, len(body), signature_for(secret, body)))
        for n in range(len(body) // 2):
            sock.sendall(body[n : n + 1])
            time.sleep(0.02)
        sock.shutdown(socket.SHUT_WR)

    return write


SENDERS = {
    "webhook-malformed-json": (malformed_json, 400),
    "webhook-truncated": (truncated, 400),
    "webhook-over-size": (over_size, 413),
    "webhook-trickle-then-gone": (trickling, 400),
}


@pytest.mark.parametrize("row", list(SENDERS))
def test_a_faulty_sender_is_answered_4xx_and_the_next_good_delivery_is_stored_once(row, live_server, webhook):
    path, host = receive_path(webhook["id"]), urlsplit(live_server.url).netloc
    secret = webhook["signing_secret"]
    make_sender, expected_status = SENDERS[row]
    status, body = send_raw(live_server.url, make_sender(path, host, secret))
    assert status == expected_status, body
    assert set(body) >= {"error"} and body["error"]["code"], body  # the one envelope
    assert not KnowledgeEntry.objects.filter(integration_id=webhook["id"]).exists()
    signature = signature_for(secret, GOOD)
    for _ in range(2):
        good = lambda sock: sock.sendall(request_head(path, host, len(GOOD), signature) + GOOD)  # noqa: E731
        status, answer = send_raw(live_server.url, good)
        assert status == 202, answer
        assert secret not in json.dumps(answer)
    entries = KnowledgeEntry.objects.filter(integration_id=webhook["id"])
    assert [(entry.title, entry.content) for entry in entries] == [("Deploy 42", "Release 42 is live.")]
