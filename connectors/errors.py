"""Typed upstream failures raised at the client boundary, so services can decide what to retry."""

from __future__ import annotations


class UpstreamError(Exception):
    """Base of every upstream failure; `message` is safe to show and to store (no secrets)."""

    # Read by the sync service instead of isinstance chains: may a later attempt succeed?
    retryable: bool = False
    # The start of the upstream's answer, secrets masked (connectors.http.body_excerpt), when there was one:
    # a connector may read the upstream's own words from it (LeanIX's {"errors": [...]}).
    body_excerpt: str = ""
    # "<Upstream>: <METHOD> <redacted URL>" when the HTTP layer raised it about one answer, so a connector
    # that rewords the message (LeanIX's own words) keeps naming the upstream and the step.
    step: str = ""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class CredentialInvalid(UpstreamError):
    """401 that a token refresh did not cure, or 401 with no way to refresh."""

    retryable = False


class CredentialExpired(UpstreamError):
    """Raised by token refreshers when the refresh token is dead: the user must authorise again."""

    retryable = False


class InsufficientPermission(UpstreamError):
    """403: the credentials are valid but lack a scope or permission."""

    retryable = False


class NotFoundUpstream(UpstreamError):
    """404 from the upstream."""

    retryable = False


class RateLimited(UpstreamError):
    """429 after the retries ran out; `retry_after` is the upstream's wish in seconds, if given."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = 429, retry_after: float | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    """5xx, timeouts or connection errors after the retries ran out."""

    retryable = True


class DeadlineExceeded(UpstreamUnavailable):
    """The request's overall deadline (connect, headers and whole body) passed: a slow or trickling upstream."""

    retryable = True


class UpstreamRejected(UpstreamError):
    """Any other 4xx: the request itself is wrong; retrying will not help."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message, status_code=status_code)
        self.body_excerpt = body_excerpt


class MalformedResponse(UpstreamRejected):
    """The answer is not what the API sends: JSON that does not parse (or was cut short), an HTML page."""

    retryable = False


class ResponseTooLarge(UpstreamError):
    """The body is larger than the cap (said by its Content-Length, or counted as it arrived)."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, bytes_read: int = 0) -> None:
        super().__init__(message, status_code=status_code)
        self.bytes_read = bytes_read  # how much of the body was read before it was refused


class UnsafeUpstreamURL(UpstreamError):
    """The SSRF guard refused the address (private, loopback, link-local, reserved, bad scheme)."""

    retryable = False


class ConnectorUnavailable(UpstreamError):
    """The integration's connector is not registered on this server (removed, or a site's own not installed).

    An upstream error in kind, so a worker fails the job with this message as it would for any other
    refusal that retrying will not cure; the API layer maps it to a 400."""

    retryable = False
