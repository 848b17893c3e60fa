"""One Leena cycle, the seed's batch rule: attachments, then articles, then `complete/`.

If any upload of the cycle fails (a non-2xx, a timeout, a `failed` result), `complete/` is not called
yet: each article unit that failed (its attachments and its article) is sent again after the seed's
backoff, 1, 2, 4, 8, 16 s (a Retry-After that Leena sends wins). When a unit still fails after the
last retry the cycle fails and `complete/` is never called for it; only a completed cycle counts its
articles as published. Refused credentials are not retried here: they end the cycle at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FileSnapshot
from connectors.errors import CredentialInvalid, InsufficientPermission, UnsafeUpstreamURL, UpstreamError
from connectors.http import wait_upstream
from connectors.leena.client import LeenaClient

logger = logging.getLogger(__name__)

# The seed's retry strategy: "Retry 1: 1s | Retry 2: 2s | Retry 3: 4s | Retry 4: 8s | Retry 5: 16s".
BACKOFF_SECONDS: tuple[float, ...] = (1, 2, 4, 8, 16)
# Not retried by the cycle: retrying with the same credentials or address cannot cure them.
NOT_RETRIED = (CredentialInvalid, InsufficientPermission, UnsafeUpstreamURL)


@dataclass
class ArticleUnit:
    """One article and its files: what the batch rule retries as a whole."""

    entry_id: str
    article: dict[str, Any]
    files: tuple[FileSnapshot, ...] = ()
    error: str | None = None
    retry_after: float | None = None

    @property
    def reference_id(self) -> str:
        return self.article["reference_id"]

    def failed(self, exc: UpstreamError | str) -> None:
        self.error = exc if isinstance(exc, str) else exc.message
        # A 429's Retry-After, or a 5xx's (the HTTP layer keeps it on UpstreamUnavailable too).
        self.retry_after = getattr(exc, "retry_after", None)


@dataclass
class CycleOutcome:
    completed: bool
    # Why the cycle did not complete, when no single unit is to blame (complete/ itself failed).
    complete_error: str | None = None
    notes: list[str] = field(default_factory=list)


def cycle_publish(
    client: LeenaClient,
    units: Sequence[ArticleUnit],
    *,
    sleep: Callable[[float], None],
    backoff: Sequence[float] = BACKOFF_SECONDS,
) -> CycleOutcome:
    """Publish the units as one cycle; see the module's docstring. Each unit's `error` tells its fate."""
    outcome = CycleOutcome(completed=False)
    _units_send(client, list(units), together=True)
    for retry, delay in enumerate(backoff, start=1):
        failed = [unit for unit in units if unit.error]
        if not failed:
            break
        wait = _wait_seconds(failed, delay)
        outcome.notes.append(
            f"Leena: {len(failed)} article(s) of the cycle failed to upload (first: {failed[0].reference_id}: "
            f"{failed[0].error}); retry {retry} of {len(backoff)} in {wait:g} s."
        )
        wait_upstream(wait, sleep)
        # Unit by unit: a retried call then answers for one article only, so the blame stays with it.
        _units_send(client, failed, together=False)
    if any(unit.error for unit in units):
        return outcome
    outcome.complete_error = _complete(client, sleep, backoff, outcome.notes)
    outcome.completed = outcome.complete_error is None
    return outcome


def _wait_seconds(failed: Sequence[ArticleUnit], delay: float) -> float:
    asked = [unit.retry_after for unit in failed if unit.retry_after is not None]
    return max(asked) if asked else float(delay)


def _units_send(client: LeenaClient, units: list[ArticleUnit], *, together: bool) -> None:
    """Upload each unit's attachments, then its article: all in one sync call, or one call each."""
    ready = [unit for unit in units if _attachments_upload(client, unit)]
    groups = [ready] if together else [[unit] for unit in ready]
    for group in groups:
        if group:
            _articles_sync(client, group)


def _attachments_upload(client: LeenaClient, unit: ArticleUnit) -> bool:
    unit.error, unit.retry_after = None, None
    attachment_ids: list[str] = []
    for file in unit.files:
        try:
            # Streamed from storage, never read whole into memory (files go up to ATTACHMENT_MAX_BYTES).
            with file.open() as stream:
                attachment_id = client.attachment_upload(name=file.name, content_type=file.content_type, content=stream)
            attachment_ids.append(attachment_id)
        except NOT_RETRIED:
            raise
        except UpstreamError as exc:
            unit.failed(exc)
            unit.error = f"attachment {file.name!r}: {unit.error}"
            return False
        except OSError as exc:
            unit.failed(f"attachment {file.name!r} could not be read: {type(exc).__name__}.")
            return False
    unit.article["attachments"] = attachment_ids
    return True


def _articles_sync(client: LeenaClient, group: list[ArticleUnit]) -> None:
    try:
        results = client.articles_sync([unit.article for unit in group])
    except NOT_RETRIED:
        raise
    except UpstreamError as exc:
        for unit in group:
            unit.failed(exc)
        return
    for unit in group:
        result = results.get(unit.reference_id)
        if result is None:
            unit.failed("Leena's answer has no result for this article.")
        elif not result.succeeded:
            unit.failed(f"Leena answered failed: {result.message or 'no message'}")


def _complete(
    client: LeenaClient, sleep: Callable[[float], None], backoff: Sequence[float], notes: list[str]
) -> str | None:
    """`complete/`, retried with the same backoff; None once it succeeded, else why it did not."""
    for retry in range(len(backoff) + 1):
        try:
            client.sync_complete()
            return None
        except NOT_RETRIED:
            raise
        except UpstreamError as exc:
            if retry == len(backoff):
                return f"Leena's sync/complete/ failed: {exc.message}"
            asked = getattr(exc, "retry_after", None)
            wait = asked if asked is not None else backoff[retry]
            notes.append(
                f"Leena: sync/complete/ failed ({exc.message}); retry {retry + 1} of {len(backoff)} in {wait:g} s."
            )
            wait_upstream(wait, sleep)
    return None  # not reached
