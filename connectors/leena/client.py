"""HTTP client of Leena's KM REST API: the password-grant token, attachment upload, article sync, complete.

One method per endpoint. The token is fetched when first needed, reused until shortly before it
expires, and replaced once on a 401 (the call is then repeated once, by the shared HTTP layer).
Article calls are sent once each (`max_attempts=1`): the seed's backoff is per article unit and
lives in connectors/leena/cycle.py, which decides what to send again.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from connectors.bearer import BearerFromCache, BearerTokenClient, CachedToken
from connectors.errors import UpstreamRejected
from connectors.http import UpstreamHttpClient, connector_bounds
from connectors.leena import api, settings

UPSTREAM = "Leena AI"


class LeenaClient(BearerTokenClient):
    """One method per Leena endpoint; see the module's docstring for tokens and retries."""

    def __init__(
        self,
        *,
        api_base_url: str,
        auth_url: str,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        read_timeout: float = 60.0,
        token_max_attempts: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Tokens live for the run only (never stored): the client's clock may be monotonic.
        super().__init__(token=None, on_new_token=None, clock=clock)
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._grant = {"username": username, "password": password, "grant_type": "password"}
        self.tokens_issued = 0
        # The token endpoint has its own client, on its own host: a 401 there means bad credentials,
        # and must not trigger the API client's refresh (which would ask the same endpoint again).
        bounds = connector_bounds(settings.REQUEST_DEADLINE_SECONDS, settings.MAX_BODY_BYTES)
        self._token_http = UpstreamHttpClient(
            base_url=auth_url,
            upstream=UPSTREAM,
            read_timeout=read_timeout,
            max_attempts=token_max_attempts,
            sleep=sleep,
            **bounds,
        )
        # Leena's article calls are POSTs it has no way to look up afterwards (no reconcile): one attempt
        # each here; the per-article backoff of connectors/leena/cycle.py decides what is sent again.
        self._api_http = UpstreamHttpClient(
            base_url=api_base_url,
            upstream=UPSTREAM,
            **bounds,
            headers={"Accept": "application/json"},
            auth=BearerFromCache(self),
            token_refresher=self._renew_token,
            read_timeout=read_timeout,
            max_attempts=1,
            sleep=sleep,
        )

    def token(self) -> CachedToken:
        """`POST {auth_url}/api/v1.0/oauth/token`: Basic client auth, a JSON password grant.

        The seed shows the grant as JSON; should Leena want it form-encoded (an OAuth server's usual
        form), a 400 or 415 to the JSON body is answered by sending the same grant as a form once."""
        headers = {"Authorization": f"Basic {self._basic}", "Accept": "application/json"}
        try:
            response = self._token_http.post(api.TOKEN_PATH, json=self._grant, headers=headers)
        except UpstreamRejected as exc:
            if exc.status_code not in (400, 415):
                raise
            response = self._token_http.post(api.TOKEN_PATH, data=self._grant, headers=headers)
        issued = api.token_of(self._token_http.json_of(response))
        self.tokens_issued += 1
        return self._token_keep(
            CachedToken.issued(issued.access_token, expires_in=issued.expires_in, now=self._clock())
        )

    def attachment_upload(self, *, name: str, content_type: str, content: bytes | BinaryIO) -> str:
        """`POST {api_base_url}/api/integration/articles/upload/`, multipart field `file` → attachment_id.

        A file object is streamed; httpx seeks it back to the start when the call is repeated after a 401."""
        files = {api.ATTACHMENT_FIELD: (name, content, content_type or "application/octet-stream")}
        response = self._api_http.post(api.ATTACHMENT_UPLOAD_PATH, files=files)
        return api.attachment_id_of(self._api_http.json_of(response))

    def articles_sync(self, articles: Sequence[dict[str, Any]]) -> dict[str, api.ArticleResult]:
        """`POST {api_base_url}/api/integration/articles/sync/` with `{"articles": [...]}` → results by reference_id."""
        response = self._api_http.post(api.ARTICLES_SYNC_PATH, json={"articles": list(articles)})
        return api.article_results_of(self._api_http.json_of(response))

    def sync_complete(self) -> None:
        """`POST {api_base_url}/api/integration/articles/sync/complete/` (body `{}`): Leena processes and indexes."""
        self._api_http.post(api.SYNC_COMPLETE_PATH, json={})
