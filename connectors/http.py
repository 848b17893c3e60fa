"""The one HTTP layer for upstreams: timeouts, a deadline and a body cap, retries, Retry-After, token refresh,
SSRF guard. Every error it raises starts with the upstream's name and names the step (method and redacted URL)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx

from connectors.env import ConnectorSetting
from connectors.errors import (
    CredentialInvalid,
    DeadlineExceeded,
    InsufficientPermission,
    MalformedResponse,
    NotFoundUpstream,
    RateLimited,
    ResponseTooLarge,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.http_bounds import CappedStream, Deadline, TypedFaults
from connectors.http_guard import (
    AddressPolicy,
    GuardedTransport,
    allow_any_address,
    check_scheme,
    is_public_address,
    parsed_upstream_url,
)
from connectors.turns import turn_lent

logger = logging.getLogger("connectors.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A write (POST, PUT, PATCH, DELETE) may have taken effect even when the answer is a 500, a read timeout,
# a reset or a passed deadline, so it is retried only when the caller says how to reconcile it (Reconcile)
# or the upstream says it did nothing (429, 503) or the request never left (connect errors). Anything
# else could apply it twice: a second issue, comment or payment, a page edited over its own edit.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOTHING_DONE_STATUSES = frozenset({429, 503})
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
MAX_REDIRECTS = 5
BODY_KEYS = ("content", "data", "files", "json")
HEADERS_KEPT_ACROSS_ORIGINS = frozenset({"accept", "accept-encoding", "connection", "content-type", "user-agent"})
STATUS_ERRORS: dict[int, tuple[type[UpstreamError], str]] = {
    401: (CredentialInvalid, "Unauthorized"),
    403: (InsufficientPermission, "Forbidden"),
    404: (NotFoundUpstream, "Not Found"),
}
EXCERPT_CHARS = 200
DEFAULT_DEADLINE_SECONDS = 60.0
DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024
_SENSITIVE_NAME = re.compile(r"auth|token|secret|key|pass|sig|session|cookie|code", re.I)
_SECRET_FIELD = re.compile(
    r"""((?:access_token|refresh_token|id_token|client_secret|password|api_?key|secret|token)"""
    r"""["']?\s*[:=]\s*["']?)[^"'&\s,;}]+""",
    re.I,
)


def redact_url(url: httpx.URL | str) -> str:
    """The URL without credentials and with every query value replaced by ***, for logs."""
    url = httpx.URL(url)
    query = "&".join(f"{name}=***" for name, _ in url.params.multi_items())
    return str(url.copy_with(userinfo=b"", query=query.encode() or None))


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request with its full URL, query secrets included; redact it there too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


if not any(isinstance(f, _RedactHttpxUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactHttpxUrls())


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds from now (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def _with_excerpt(error: UpstreamError, excerpt: str) -> UpstreamError:
    error.body_excerpt = excerpt
    error.step = error.message.partition(" returned ")[0]
    return error


def body_excerpt(response: httpx.Response, secrets: set[str]) -> str:
    """A short one-line excerpt of the body with our own secrets and token-like fields masked."""
    text = response.text[: EXCERPT_CHARS * 4]
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _SECRET_FIELD.sub(r"\1***", text)
    return " ".join(text.split())[:EXCERPT_CHARS]


def _secrets_of(request: httpx.Request, headers: httpx.Headers) -> set[str]:
    """Values an upstream might echo back that must not reach an exception: keys, tokens, passwords."""
    header_items = [*request.headers.items(), *headers.items()]
    values = [v for k, v in header_items if _SENSITIVE_NAME.search(k)]
    values += [v for k, v in request.url.params.multi_items() if _SENSITIVE_NAME.search(k)]
    values += [v for k, v in _body_fields(request) if _SENSITIVE_NAME.search(k)]
    # An upstream may echo Basic credentials decoded ("user:secret"), not as the base64 it was sent.
    values += [pair for value in values for pair in _basic_credentials(value)]
    # "Bearer abc" is often echoed as just "abc"; short pieces would mask ordinary words.
    return {part for value in values for part in (value, *value.split()) if len(part) >= 6}


def _basic_credentials(value: str) -> list[str]:
    """`user:password` and `password` of a Basic Authorization value; nothing for anything else."""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return []
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return []
    return [pair, pair.partition(":")[2]]


def _body_fields(request: httpx.Request) -> list[tuple[str, str]]:
    """The top-level string fields of a form or JSON request body (an OAuth token request's secrets)."""
    try:
        body = request.content
    except httpx.RequestNotRead:
        return []
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qsl(body.decode(errors="replace"))
    if content_type.startswith("application/json"):
        try:
            fields = json.loads(body)
        except ValueError:
            return []
        return [(k, v) for k, v in fields.items() if isinstance(v, str)] if isinstance(fields, dict) else []
    return []


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


@dataclass(frozen=True)
class Reconcile:
    """How a write that may have reached the upstream is sent again without applying it twice.

    `applied` looks upstream before each such retry: a response means the write is done, and it is
    returned as the write's answer (Confluence's update: the page at the expected next version).
    `success_statuses` answered to a retry mean the earlier attempt did it (a 404 to a repeated DELETE).
    `Reconcile()` alone says that applying the write twice is the same as once (a PUT of a whole state).
    """

    applied: Callable[[], httpx.Response | None] | None = None
    success_statuses: frozenset[int] = frozenset()


def _may_retry(
    method: str, *, status: int | None = None, error: Exception | None = None, reconciled: bool = False
) -> bool:
    if status is not None:
        if status not in RETRY_STATUSES:
            return False
        return status in NOTHING_DONE_STATUSES or method in SAFE_METHODS or reconciled
    if isinstance(error, NOT_SENT_ERRORS):
        return True
    return isinstance(error, RETRYABLE_ERRORS) and (method in SAFE_METHODS or reconciled)


def _may_have_applied(method: str, *, status: int | None = None, error: Exception | None = None) -> bool:
    """May this failed write have taken effect upstream all the same?"""
    if method in SAFE_METHODS:
        return False
    return status not in NOTHING_DONE_STATUSES if status is not None else not isinstance(error, NOT_SENT_ERRORS)


def _setting(name: str, default: float) -> float:
    from django.conf import settings

    return getattr(settings, name, default)


def connector_bounds(deadline: ConnectorSetting, max_body_bytes: ConnectorSetting) -> dict[str, Any]:
    """A connector's own deadline and body cap (None: the UPSTREAM_ ones), as UpstreamHttpClient's arguments."""
    return {"deadline_seconds": deadline.get(), "max_body_bytes": max_body_bytes.get()}


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return content_type.startswith(("text/html", "application/xhtml")) or response.content.lstrip()[:1] == b"<"


# Called while a caller waits on an upstream (a backoff, a Retry-After, a remote run being polled), so
# whoever runs the connector can prove it is alive; set by the run engine, unknown to connectors.
_while_waiting: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "upstream_while_waiting", default=None
)
# A long wait is cut into slices of at most this many seconds, the hook called before each.
WAIT_SLICE_SECONDS = 5.0


@contextlib.contextmanager
def while_waiting(hook: Callable[[], None]) -> Iterator[None]:
    """Call `hook` at least every WAIT_SLICE_SECONDS while anything in this context waits on an upstream."""
    token = _while_waiting.set(hook)
    try:
        yield
    finally:
        _while_waiting.reset(token)


# Whether the run a connector works for was cancelled (or its job taken away): set by the run engine, so a
# connector that started work upstream (a LeanIX run) can stop it there before it gives up.
_cancel_check: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "upstream_cancel_check", default=None
)


@contextlib.contextmanager
def cancel_checked(check: Callable[[], bool]) -> Iterator[None]:
    token = _cancel_check.set(check)
    try:
        yield
    finally:
        _cancel_check.reset(token)


def run_cancelled() -> bool:
    """Was the run in this context cancelled? False outside a run."""
    check = _cancel_check.get()
    return bool(check is not None and check())


def wait_upstream(seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait `seconds` for an upstream (backoff, polling a remote run), calling the waiting hook as it goes."""
    hook = _while_waiting.get()
    with turn_lent():
        if hook is None:
            sleep(seconds)
            return
        remaining = max(0.0, seconds)
        while True:
            hook()
            if remaining <= 0:
                return
            step = min(remaining, WAIT_SLICE_SECONDS)
            sleep(step)
            remaining -= step


class UpstreamHttpClient:
    """An httpx client with the house rules for calling upstreams; use it as a context manager.

    `upstream` is the display name every error message starts with ("Haiilo", "SAP LeanIX").
    `deadline_seconds` bounds each attempt whole (connect, headers, body), `max_body_bytes` each body;
    None reads UPSTREAM_REQUEST_DEADLINE_SECONDS and UPSTREAM_MAX_BODY_BYTES.
    """

    def __init__(
        self,
        *,
        base_url: str,
        upstream: str = "Upstream",
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        token_refresher: Callable[[], dict[str, str]] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        deadline_seconds: float | None = None,
        max_body_bytes: int | None = None,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        allow_private: bool | None = None,
        address_policy: AddressPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if allow_private is None:
            allow_private = bool(_setting("ALLOW_PRIVATE_UPSTREAMS", False))
        if address_policy is None:
            address_policy = allow_any_address if allow_private else is_public_address
        self.upstream = upstream
        self.token_refresher = token_refresher
        self.deadline_seconds = float(
            deadline_seconds or _setting("UPSTREAM_REQUEST_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS)
        )
        self.max_body_bytes = int(max_body_bytes or _setting("UPSTREAM_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
        self.max_attempts = max(1, max_attempts)
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.retry_after_max = retry_after_max
        self.sleep = sleep
        self._client = httpx.Client(
            base_url=parsed_upstream_url(base_url),
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,  # followed by hand so every hop meets the guard
            trust_env=False,  # an env proxy would route around the connect-time guard
            transport=GuardedTransport(address_policy),
        )

    def __enter__(self) -> UpstreamHttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, path_or_url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path_or_url, **kwargs)

    def post(self, path_or_url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path_or_url, **kwargs)

    def put(self, path_or_url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path_or_url, **kwargs)

    def delete(self, path_or_url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path_or_url, **kwargs)

    def get_json(self, path_or_url: str, **kwargs: Any) -> Any:
        return self.json_of(self.get(path_or_url, **kwargs))

    def json_of(self, response: httpx.Response) -> Any:
        """The body as JSON, or MalformedResponse naming upstream, step and status (an HTML page, a cut body)."""
        self.refuse_html(response)
        try:
            return response.json()
        except ValueError as exc:
            raise self._malformed(response, "a body that is not valid JSON") from exc

    def refuse_html(self, response: httpx.Response) -> None:
        """MalformedResponse for an HTML page where JSON was expected (a login page, a proxy's error page)."""
        if _is_html(response):
            raise self._malformed(response, "an HTML page where JSON was expected")

    def _malformed(self, response: httpx.Response, what: str) -> MalformedResponse:
        message = f"{self._step(response)} returned {response.status_code} with {what}."
        return MalformedResponse(message, status_code=response.status_code)

    def _step(self, response: httpx.Response) -> str:
        return f"{self.upstream}: {response.request.method} {redact_url(response.url)}"

    @contextlib.contextmanager
    def stream(
        self, method: str, path_or_url: str, *, max_body_bytes: int | None = None, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """As `request`, but the caller iterates the body (a download); `max_body_bytes` is its own cap.

        The deadline runs on while the body is read; a fault then is raised typed, as in `request`."""
        cap = max_body_bytes or self.max_body_bytes
        response, deadline = self._request(method, path_or_url, kwargs, stream_cap=cap)
        response.stream = TypedFaults(response.stream, self._body_fault(response, deadline))
        try:
            with deadline.running():
                yield response
        finally:
            response.close()

    def request(
        self, method: str, path_or_url: str, *, reconcile: Reconcile | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries and at most one token refresh; 2xx/3xx or raise UpstreamError.

        A write that may have reached the upstream is retried only with a `reconcile` (see Reconcile)."""
        return self._request(method, path_or_url, kwargs, reconcile=reconcile)[0]

    def _request(
        self, method: str, path_or_url: str, kwargs: dict[str, Any], **options: Any
    ) -> tuple[httpx.Response, Deadline]:
        # The whole exchange is a wait: retries, backoffs and a token's renewal (whose lock another
        # thread may hold while it waits for a turn) run without this thread's turn to compute.
        with turn_lent():
            return self._attempts(method, path_or_url, kwargs, **options)

    def _attempts(
        self,
        method: str,
        path_or_url: str,
        kwargs: dict[str, Any],
        *,
        reconcile: Reconcile | None = None,
        stream_cap: int | None = None,
    ) -> tuple[httpx.Response, Deadline]:
        method = method.upper()
        attempt, refreshed, maybe_applied = 1, False, False
        reconciled = reconcile is not None
        while True:
            deadline = Deadline(self.deadline_seconds)
            try:
                with deadline.running():
                    response = self._exchange(method, path_or_url, kwargs, attempt, stream_cap)
            except httpx.TransportError as exc:
                if attempt < self.max_attempts and _may_retry(method, error=exc, reconciled=reconciled):
                    maybe_applied = maybe_applied or _may_have_applied(method, error=exc)
                    if maybe_applied and (done := self._look(reconcile)) is not None:
                        return done, deadline
                    wait_upstream(self._backoff(attempt), self.sleep)
                    attempt += 1
                    continue
                raise self._transport_error(method, path_or_url, kwargs, attempt, exc, deadline) from exc
            status = response.status_code
            if maybe_applied and reconcile is not None and status in reconcile.success_statuses:
                return response, deadline
            if status == 401 and self.token_refresher is not None and not refreshed:
                # The refresh does not use up an attempt: it is a different failure from flakiness.
                refreshed = True
                self._client.headers.update(self.token_refresher())
                continue
            if attempt < self.max_attempts and _may_retry(method, status=status, reconciled=reconciled):
                maybe_applied = maybe_applied or _may_have_applied(method, status=status)
                if maybe_applied and (done := self._look(reconcile)) is not None:
                    return done, deadline
                wait_upstream(self._retry_delay(response, attempt), self.sleep)
                attempt += 1
                continue
            if status >= 400:
                self._raise_for_status(response)
            return response, deadline

    @staticmethod
    def _look(reconcile: Reconcile | None) -> httpx.Response | None:
        """The reconcile hook's finding before a retry: the write's result if it was applied after all."""
        return None if reconcile is None or reconcile.applied is None else reconcile.applied()

    def _exchange(
        self, method: str, path_or_url: str, kwargs: dict[str, Any], attempt: int, stream_cap: int | None
    ) -> httpx.Response:
        """One attempt: the answer with its body read under the cap, unless a caller streams a success."""
        response = self._send_following_redirects(method, path_or_url, kwargs, attempt)
        try:
            cap = stream_cap or self.max_body_bytes
            self._refuse_declared_size(response, cap)
            too_large = lambda received: self._too_large(response, cap, bytes_read=received)  # noqa: E731
            response.stream = CappedStream(response.stream, cap=cap, too_large=too_large)
            if stream_cap is None or response.status_code >= 400:
                # Error answers are read whole for their excerpt: they are short (S3's, a CDN's).
                response.read()
        except BaseException:
            response.close()
            raise
        return response

    def _refuse_declared_size(self, response: httpx.Response, cap: int) -> None:
        # Refused before a byte of the body is read; a lying or absent Content-Length is counted instead.
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._too_large(response, cap, f"{declared} bytes by its Content-Length")

    def _too_large(
        self, response: httpx.Response, cap: int, size: str = "counted as it arrived", bytes_read: int = 0
    ) -> ResponseTooLarge:
        message = (
            f"{self._step(response)} returned {response.status_code} with a body over the {cap}-byte cap ({size})."
        )
        return ResponseTooLarge(message, status_code=response.status_code, bytes_read=bytes_read)

    def _transport_error(
        self, method: str, path_or_url: str, kwargs: dict[str, Any], attempt: int, exc: Exception, deadline: Deadline
    ) -> UpstreamUnavailable:
        url = self._client.build_request(method, path_or_url, params=kwargs.get("params")).url
        where = f"{self.upstream}: {method} {redact_url(url)} failed after {attempt} attempt(s)"
        if deadline.passed:
            return DeadlineExceeded(f"{where}: its {deadline.seconds:g} s deadline passed.")
        return UpstreamUnavailable(f"{where}: {type(exc).__name__}.")

    def _body_fault(self, response: httpx.Response, deadline: Deadline) -> Callable[[Exception], UpstreamError]:
        """A streamed body's transport fault as the typed error `request` would have raised."""
        request = response.request

        def typed(exc: Exception) -> UpstreamError:
            return self._transport_error(request.method, str(request.url), {}, 1, exc, deadline)

        return typed

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads clients that failed together over time.
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))

    def _clamped_retry_after(self, response: httpx.Response) -> float | None:
        # Clamped so that a hostile or broken upstream cannot park a worker for a day.
        wanted = retry_after_seconds(response.headers.get("Retry-After"))
        return None if wanted is None else min(max(wanted, 0.0), self.retry_after_max)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        wanted = self._clamped_retry_after(response)
        return self._backoff(attempt) if wanted is None else wanted

    def _send_following_redirects(
        self, method: str, path_or_url: str, kwargs: dict[str, Any], attempt: int
    ) -> httpx.Response:
        check_scheme(path_or_url)
        request = self._client.build_request(method, path_or_url, **kwargs)
        origin = _origin(request.url)
        hop_kwargs = {k: v for k, v in kwargs.items() if k != "params"}
        for _hop in range(MAX_REDIRECTS + 1):
            check_scheme(request.url)
            response = self._send_logged(request, attempt, _origin(request.url) == origin)
            if not response.has_redirect_location:
                return response
            response.close()
            if response.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
                # RFC 9110 15.4: clients turn these into GET without a body (307/308 keep both).
                method = "GET"
                hop_kwargs = {k: v for k, v in hop_kwargs.items() if k not in BODY_KEYS}
            target = request.url.join(response.headers["Location"])
            check_scheme(target)
            request = self._client.build_request(method, target, **hop_kwargs)
            if _origin(target) != origin:
                # Another origin gets none of our credentials: any caller header may be a key.
                for name in {*self._client.headers.keys(), *dict(kwargs.get("headers") or {})}:
                    if name.lower() not in HEADERS_KEPT_ACROSS_ORIGINS:
                        request.headers.pop(name, None)
        raise UpstreamRejected(
            f"{self.upstream}: {method} {redact_url(request.url)}: more than {MAX_REDIRECTS} redirects.",
            status_code=response.status_code,
        )

    def _send_logged(self, request: httpx.Request, attempt: int, same_origin: bool) -> httpx.Response:
        started = time.monotonic()
        outcome: int | str = "error"
        try:
            # auth=None turns the client's httpx.Auth off for hops to another origin.
            auth = httpx.USE_CLIENT_DEFAULT if same_origin else None
            # Always streamed: the body is read by _exchange, under the cap.
            response = self._client.send(request, auth=auth, stream=True)
            outcome = response.status_code
            return response
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            where = redact_url(request.url)
            log_line = "%s %s -> %s in %.0f ms (attempt %d)"
            logger.info(log_line, request.method, where, outcome, elapsed_ms, attempt)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        what = self._step(response)
        excerpt = body_excerpt(response, _secrets_of(response.request, self._client.headers))
        if status in STATUS_ERRORS:
            error, reason = STATUS_ERRORS[status]
            raise _with_excerpt(error(f"{what} returned {status} {reason}.", status_code=status), excerpt)
        if status == 429:
            retry_after = self._clamped_retry_after(response)
            limited = RateLimited(f"{what} returned 429: rate limit reached.", retry_after=retry_after)
            raise _with_excerpt(limited, excerpt)
        if status >= 500:
            unavailable = UpstreamUnavailable(f"{what} returned {status}.", status_code=status)
            # A 503 may say when to come back too: kept for callers that do their own backoff (Leena's).
            unavailable.retry_after = self._clamped_retry_after(response)
            raise _with_excerpt(unavailable, excerpt)
        message = f"{what} was rejected with {status}: {excerpt}"
        rejected = UpstreamRejected(message, status_code=status, body_excerpt=excerpt)
        rejected.step = what
        raise rejected
