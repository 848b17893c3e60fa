"""HTTP client of Haiilo's AI Connector: the client-credentials token, events and deletes pages."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from connectors.bearer import BearerFromCache, BearerTokenClient, CachedToken
from connectors.errors import UpstreamError, UpstreamRejected
from connectors.haiilo import settings
from connectors.haiilo.page import EventsPage
from connectors.http import UpstreamHttpClient, connector_bounds, redact_url

TOKEN_PATH = "/api/oauth/token"
EVENTS_PATH = "/web/content-connector/events/{entity_type}"
DELETES_PATH = "/web/content-connector/events/{entity_type}/deletes"
FILE_URL_PATH = "/web/content-connector/api/files/{group_id}/{uid}"
DEFAULT_EXPIRES_IN = 3600
UPSTREAM = "Haiilo"


def token_from_credentials(credentials: dict[str, Any], client_id: str) -> CachedToken | None:
    """The token stored by an earlier run, if it was issued to the same client id."""
    if credentials.get("client_id") != client_id or not credentials.get("access_token"):
        return None
    return CachedToken(str(credentials["access_token"]), float(credentials.get("refresh_at") or 0))


class HaiiloClient(BearerTokenClient):
    """One method per Haiilo endpoint; a token is fetched when needed, cached, and renewed on 401."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        token: CachedToken | None = None,
        on_new_token: Callable[[CachedToken], None] | None = None,
        read_timeout: float = 30.0,
        max_attempts: int = 4,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(token=token, on_new_token=on_new_token, clock=clock)
        self.base_url = base_url.rstrip("/")
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        options: dict[str, Any] = {
            "upstream": UPSTREAM,
            "read_timeout": read_timeout,
            "max_attempts": max_attempts,
            "sleep": sleep,
            **connector_bounds(settings.REQUEST_DEADLINE_SECONDS, settings.MAX_BODY_BYTES),
        }
        # The token endpoint has its own client: a 401 there means bad client credentials, and must
        # not trigger the token refresh of the API client (which would ask the same endpoint again).
        self._token_http = UpstreamHttpClient(base_url=self.base_url, **options)
        self._api_http = UpstreamHttpClient(
            base_url=self.base_url,
            headers={"Accept": "application/json"},
            auth=BearerFromCache(self),
            token_refresher=self._renew_token,
            **options,
        )

    def token(self) -> CachedToken:
        """`POST /api/oauth/token` with Basic client auth and `grant_type=client_credentials`."""
        response = self._token_http.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {self._basic}", "Accept": "application/json"},
        )
        body = self._token_http.json_of(response)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise UpstreamError("Haiilo's token endpoint answered without an access token.")
        expires_in = float(body.get("expires_in") or DEFAULT_EXPIRES_IN)
        return self._token_keep(CachedToken.issued(str(body["access_token"]), expires_in=expires_in, now=self._clock()))

    def events_page(self, entity_type: str, *, start_id: int, page_size: int) -> EventsPage:
        """`GET /web/content-connector/events/{entityType}?startId=&pageSize=`."""
        return self._page(EVENTS_PATH.format(entity_type=quote(entity_type, safe="")), start_id, page_size)

    def deletes_page(self, entity_type: str, *, start_id: int, page_size: int) -> EventsPage:
        """`GET /web/content-connector/events/{entityType}/deletes?startId=&pageSize=`."""
        return self._page(DELETES_PATH.format(entity_type=quote(entity_type, safe="")), start_id, page_size)

    def file_url(self, group_id: str, uid: str) -> str:
        """`GET /web/content-connector/api/files/{groupId}/{uid}` -> the file's time-limited `fileUrl`."""
        path = FILE_URL_PATH.format(group_id=quote(group_id, safe=""), uid=quote(uid, safe=""))
        body = self._api_http.get_json(path)
        url = body.get("fileUrl") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise UpstreamRejected("Haiilo's file endpoint answered without a fileUrl.", status_code=200)
        return url

    def _page(self, path: str, start_id: int, page_size: int) -> EventsPage:
        """The page, read lazily (see connectors/haiilo/page.py): its events are decoded one by one.

        Its body was read as a stream under the cap (HAIILO_MAX_BODY_BYTES, else UPSTREAM_MAX_BODY_BYTES)."""
        response = self._api_http.get(path, params={"startId": start_id, "pageSize": page_size})
        self._api_http.refuse_html(response)
        where = f"{UPSTREAM}: GET {redact_url(response.url)} returned {response.status_code}"
        return EventsPage(response.text, where, status_code=response.status_code)
