"""What every client that signs its API calls with a cached bearer token shares (Haiilo, Leena, LeanIX).

A client keeps two HTTP clients: one for its token endpoint, one for the API. The API client asks
`current_token()` as each request leaves (`BearerFromCache`), so a retry or the repeat after a 401
carries the newest token; on a 401 the HTTP layer calls `renew_token()` once. How a token is obtained
is each upstream's own (`token()`).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from connectors.http import UpstreamHttpClient
from connectors.turns import turn_lent

# A token is replaced this long before it expires (at most a tenth of its lifetime), so a request
# never leaves with a token that dies on the way.
EXPIRY_MARGIN_SECONDS = 60.0


@dataclass
class CachedToken:
    access_token: str
    refresh_at: float  # on the client's clock (wall-clock seconds by default, so a stored token lasts)

    def usable(self, now: float) -> bool:
        return bool(self.access_token) and now < self.refresh_at

    @classmethod
    def issued(cls, access_token: str, *, expires_in: float, now: float) -> CachedToken:
        """A token just issued for `expires_in` seconds, to be replaced a margin before it expires."""
        return cls(access_token, now + expires_in - min(EXPIRY_MARGIN_SECONDS, expires_in / 10))


class BearerTokenClient(ABC):
    """The cached token, its renewal and the two HTTP clients' lifetime; subclasses fetch tokens."""

    _token_http: UpstreamHttpClient
    _api_http: UpstreamHttpClient

    def __init__(
        self,
        *,
        token: CachedToken | None,
        on_new_token: Callable[[CachedToken], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self._token = token
        self._on_new_token = on_new_token
        self._clock = clock
        # Slices of one pull share the client from several threads: one of them fetches a token, and
        # the others, refused at the same moment, take that one instead of asking again.
        self._token_lock = threading.Lock()
        self._sent = threading.local()  # the token this thread's last request carried

    @abstractmethod
    def token(self) -> CachedToken:
        """Ask the token endpoint for a new token and keep it (`_token_keep`)."""

    def _token_keep(self, token: CachedToken) -> CachedToken:
        self._token = token
        if self._on_new_token is not None:
            self._on_new_token(token)
        return token

    def current_token(self) -> CachedToken:
        """The cached token, or a new one when there is none or it is about to expire."""
        token = self._token
        if token is not None and token.usable(self._clock()):
            return token
        # Waited for without a turn to compute: the lock's holder may be waiting for one (connectors.turns).
        with turn_lent(), self._token_lock:
            token = self._token
            if token is None or not token.usable(self._clock()):
                token = self.token()
            return token

    def _renew_token(self) -> dict[str, str]:
        # Called by the HTTP layer on a 401: the cached token was refused, whatever its age. The request
        # is then repeated once, and BearerFromCache puts the new token on it.
        with turn_lent(), self._token_lock:
            refused = getattr(self._sent, "access_token", None)
            if self._token is None or self._token.access_token == refused:
                self.token()
        return {}

    def sent_with(self, token: CachedToken) -> CachedToken:
        self._sent.access_token = token.access_token
        return token

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._token_http.close()
        self._api_http.close()


class BearerFromCache(httpx.Auth):
    """Puts the client's current token on every request as it is sent (retries and the repeat after a
    401 included), so no request carries a token that was replaced in between."""

    def __init__(self, client: BearerTokenClient) -> None:
        self._client = client

    def auth_flow(self, request: httpx.Request):
        token = self._client.sent_with(self._client.current_token())
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        yield request
