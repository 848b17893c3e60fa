"""One LeanIX synchronisation run from LDIF to its end: create, start, poll with backoff, warnings, results.

Polling waits through `connectors.http.wait_upstream`, so the job's lease heartbeats while LeanIX
works; it is bounded by LEANIX_RUN_TIMEOUT_SECONDS, after which the run is stopped and the job fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import UpstreamError
from connectors.http import wait_upstream
from connectors.leanix import settings
from connectors.leanix.client import TERMINAL_STATUSES, LeanIXClient

logger = logging.getLogger(__name__)
BACKOFF_FACTOR = 1.5
WARNING_CHARS = 500


class LeanIXRunFailed(UpstreamError):
    """LeanIX reported the run FAILED or STOPPED, it did not finish in time, or its status could not be read
    once it had started: not worth a retry of the job, which would start another run."""

    retryable = False


class LeanIXRunCancelled(UpstreamError):
    """The job was cancelled while LeanIX worked; the run was stopped."""

    retryable = False


@dataclass
class RunOutcome:
    run_id: str
    status: str
    description: str = ""
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [warning_text(w) for w in self.warnings if str(w.get("status", "")).upper() == "ERROR"]


def warning_text(warning: dict[str, Any]) -> str:
    """One warning as a line of the job log: its message, detail and the content id it names."""
    parts = [str(warning.get("message") or "").strip(), str(warning.get("detail") or "").strip()]
    text = ": ".join(part for part in parts if part) or "LeanIX gave a warning without a message"
    if warning.get("content"):
        text = f"{text} (content {warning['content']})"
    return text[:WARNING_CHARS]


def run_to_the_end(
    client: LeanIXClient,
    ldif: bytes,
    *,
    what: str,
    cancelled: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> RunOutcome:
    """Create and start a run, poll it to FINISHED, FAILED or STOPPED, then read all its warnings.

    A run past the timeout, or whose job was cancelled, is stopped with `POST …/stop` and raises.
    A FAILED or STOPPED run raises LeanIXRunFailed with LeanIX's words (its ERROR warnings, else the
    status description)."""
    run_id = client.run_create(ldif)
    client.run_start(run_id)
    status = poll_until_terminal(client, run_id, what=what, cancelled=cancelled, sleep=sleep)
    outcome = RunOutcome(run_id, status["status"], str(status.get("description") or ""))
    outcome.warnings = list(client.run_warnings(run_id))
    if outcome.status != "FINISHED":
        said = "; ".join(outcome.errors()) or outcome.description or "no reason given"
        raise LeanIXRunFailed(f"LeanIX reported the {what} run {run_id} {outcome.status}: {said}")
    return outcome


def poll_until_terminal(
    client: LeanIXClient,
    run_id: str,
    *,
    what: str,
    cancelled: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> dict[str, Any]:
    timeout = float(settings.RUN_TIMEOUT_SECONDS.get())
    deadline = deadline if deadline is not None else time.monotonic() + timeout
    wait = float(settings.POLL_FIRST_SECONDS.get())
    longest = float(settings.POLL_MAX_SECONDS.get())
    while True:
        try:
            status = client.run_status(run_id)
        except UpstreamError as exc:
            # LeanIX did not tell how the run goes, even after the client's retries: the run is stopped and
            # the job fails, since a retry of the job would start another run of the same content.
            run_stop_quietly(client, run_id)
            raise LeanIXRunFailed(f"{exc.message} LeanIX's {what} run {run_id} was stopped.") from exc
        if status["status"] in TERMINAL_STATUSES:
            return status
        if cancelled():
            run_stop_quietly(client, run_id)
            raise LeanIXRunCancelled(f"The job was cancelled; LeanIX's {what} run {run_id} was stopped.")
        if time.monotonic() >= deadline:
            run_stop_quietly(client, run_id)
            raise LeanIXRunFailed(
                f"LeanIX's {what} run {run_id} did not finish within {timeout:g} s "
                f"(still {status['status']}); it was stopped."
            )
        try:
            wait_upstream(min(wait, max(0.0, deadline - time.monotonic())), sleep)
        except BaseException:
            # The job stops while LeanIX works (its lease taken by a cancel, its integration deleted, a
            # time limit, a worker shutdown): the run it started must not go on without it.
            run_stop_quietly(client, run_id)
            raise
        wait = min(longest, wait * BACKOFF_FACTOR)


def results_when_ready(
    client: LeanIXClient,
    run_id: str,
    *,
    cancelled: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """The results LDIF of a finished run, polling again while LeanIX answers 204 (bounded by the timeout)."""
    timeout = float(settings.RUN_TIMEOUT_SECONDS.get())
    deadline = time.monotonic() + timeout
    wait = float(settings.POLL_FIRST_SECONDS.get())
    while True:
        results = client.run_results(run_id)
        if results is not None:
            return results
        if cancelled():
            raise LeanIXRunCancelled(f"The job was cancelled while waiting for the results of run {run_id}.")
        if time.monotonic() >= deadline:
            raise LeanIXRunFailed(f"LeanIX's results of run {run_id} were not ready within {timeout:g} s.")
        wait_upstream(wait, sleep)
        wait = min(float(settings.POLL_MAX_SECONDS.get()), wait * BACKOFF_FACTOR)


def run_stop_quietly(client: LeanIXClient, run_id: str) -> None:
    """Stop a run; a run that ended meanwhile (LeanIX's 400) is not an error of ours."""
    try:
        client.run_stop(run_id)
    except UpstreamError as exc:
        logger.warning("LeanIX run %s could not be stopped: %s", run_id, exc.message)
