"""The shared HTTP layer with Confluence's dialect: its error bodies and its rate-limit headers."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from connectors.errors import UpstreamError
from connectors.http import UpstreamHttpClient, _secrets_of, body_excerpt, retry_after_seconds

MESSAGE_MAX_CHARS = 300


def seconds_until_reset(value: str | None, *, now: datetime | None = None) -> float | None:
    """Atlassian's X-RateLimit-Reset (an ISO 8601 instant) as seconds from now; None if absent or bad."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def upstream_message(response: httpx.Response, secrets: set[str]) -> str:
    """The human part of a Confluence error body: v2 `errors[].title/detail`, v1 `message`."""
    try:
        body = response.json()
    except ValueError:
        return body_excerpt(response, secrets)
    parts: list[str] = []
    if isinstance(body, dict):
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                parts += [str(error[key]) for key in ("title", "detail") if error.get(key)]
        if not parts and body.get("message"):
            parts.append(str(body["message"]))
    text = " ".join(" ".join(parts).split())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:MESSAGE_MAX_CHARS]


class ConfluenceHttpClient(UpstreamHttpClient):
    """Retry-After first, else X-RateLimit-Reset; every error carries Confluence's own message."""

    def _clamped_retry_after(self, response: httpx.Response) -> float | None:
        wanted = retry_after_seconds(response.headers.get("Retry-After"))
        if wanted is None:
            wanted = seconds_until_reset(response.headers.get("X-RateLimit-Reset"))
        # Clamped: a Retry-After of 9223372036854775807 seconds has been seen in the wild.
        return None if wanted is None else min(max(wanted, 0.0), self.retry_after_max)

    def _raise_for_status(self, response: httpx.Response) -> None:
        said = upstream_message(response, _secrets_of(response.request, self._client.headers))
        try:
            super()._raise_for_status(response)
        except UpstreamError as exc:
            exc.status_code = response.status_code
            exc.upstream_message = said  # type: ignore[attr-defined]
            if said and said not in exc.message:
                exc.message = f"{exc.message} Confluence said: {said}"
                exc.args = (exc.message,)
            raise
