"""What the HTTP layer's bounds cost and what they cut: a large body read through UpstreamHttpClient (streamed
under a cap, every socket read cut to the deadline) against plain httpx, and a trickling server's request
ended at its deadline instead of running for the whole body.

    .venv/bin/python bench/http_bounds.py [--mb 20] [--rounds 10] [--deadline 2]

Prints ratios, not verdicts: it asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.errors import DeadlineExceeded  # noqa: E402
from connectors.http import UpstreamHttpClient  # noqa: E402
from tests.fakes.faulty_http import FaultyUpstream  # noqa: E402
from tests.fakes.local_server import LocalServer  # noqa: E402


class _Body(BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def _timed(get, rounds: int, size: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        if len(get()) != size:
            raise SystemExit("short body")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=2.0)
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    with LocalServer(_Body, body=b"x" * size) as server:
        bounded = UpstreamHttpClient(
            base_url=server.url, upstream="Bench", allow_private=True, deadline_seconds=60, max_body_bytes=1 << 30
        )
        with httpx.Client(base_url=server.url) as plain, bounded:
            _timed(lambda: plain.get("/").content, 1, size)  # warm both connections up
            _timed(lambda: bounded.get("/").content, 1, size)
            raw = _timed(lambda: plain.get("/").content, args.rounds, size)
            capped = _timed(lambda: bounded.get("/").content, args.rounds, size)
    print(
        f"{args.mb} MB body, median of {args.rounds}: httpx {raw * 1000:.0f} ms, bounded layer {capped * 1000:.0f} ms"
    )
    print(f"  bounded / plain = {capped / raw:.2f}")

    with FaultyUpstream(interval=0.25) as trickle:
        client = UpstreamHttpClient(
            base_url=trickle.url, upstream="Bench", allow_private=True, deadline_seconds=args.deadline,
            read_timeout=args.deadline * 2, max_attempts=1, max_body_bytes=1 << 20,
        )  # fmt: skip
        started = time.perf_counter()
        with client, _expect(DeadlineExceeded):
            client.get("/trickle-body")
        elapsed = time.perf_counter() - started
    whole = 1000 * 0.25
    print(f"trickle of 1000 bytes at 4 bytes/s ({whole:.0f} s whole) with a {args.deadline:g} s deadline:")
    print(
        f"  ended after {elapsed:.2f} s = {elapsed / args.deadline:.2f} x the deadline, {whole / elapsed:.0f} x sooner"
    )


class _expect:
    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is None:
            raise SystemExit(f"expected {self.error.__name__}")
        return issubclass(kind, self.error)


if __name__ == "__main__":
    main()
