"""HTTP client of LeanIX: the MTM token and the Integration API's runs, warnings, results and configurations.

One method per endpoint. The token is fetched when needed, reused until shortly before it expires,
and renewed once on a 401. LeanIX's error body `{"errors": [...]}` becomes the exception's message.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import ijson

from connectors.bearer import BearerFromCache, BearerTokenClient, CachedToken
from connectors.errors import MalformedResponse, UpstreamError, UpstreamRejected
from connectors.http import Reconcile, UpstreamHttpClient, connector_bounds
from connectors.leanix import settings

TOKEN_PATH = "/services/mtm/v1/oauth2/token"
API_PATH = "/services/integration-api/v1"
WARNINGS_PAGE = 100
DEFAULT_EXPIRES_IN = 3599.0
TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED", "STOPPED"})
ERRORS_SHOWN = 5
UPSTREAM = "SAP LeanIX"
# PUT /configurations replaces the binding's whole configuration: sending it twice is sending it once.
REPLACES_WHOLE = Reconcile()


def leanix_words(exc: UpstreamError) -> UpstreamError:
    """The same error with LeanIX's own `errors` list as its message, when its body carried one."""
    excerpt = getattr(exc, "body_excerpt", "")
    try:
        errors = json.loads(excerpt).get("errors") if excerpt else None
    except (ValueError, AttributeError):
        errors = None
    if not errors or not isinstance(errors, list):
        return exc
    said = "; ".join(str(error) for error in errors[:ERRORS_SHOWN])
    status = f" (HTTP {exc.status_code})" if exc.status_code else ""
    renamed = copy.copy(exc)
    where = f"{exc.step}: " if exc.step else ""
    renamed.message = f"{where}LeanIX refused the request{status}: {said}"
    renamed.args = (renamed.message,)
    return renamed


class LeanIXClient(BearerTokenClient):
    """The workspace's token endpoint and Integration API on one host (`https://acme.leanix.net`)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_token: str,
        token: CachedToken | None = None,
        on_new_token: Callable[[CachedToken], None] | None = None,
        read_timeout: float = 60.0,
        max_attempts: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(token=token, on_new_token=on_new_token, clock=clock)
        self.base_url = base_url.rstrip("/")
        self._basic = base64.b64encode(f"apitoken:{api_token}".encode()).decode()
        options: dict[str, Any] = {
            "upstream": UPSTREAM,
            "read_timeout": read_timeout,
            "max_attempts": max_attempts,
            **connector_bounds(settings.REQUEST_DEADLINE_SECONDS, settings.MAX_BODY_BYTES),
        }
        # The token endpoint has its own client: a 401 there means a wrong API token, and must not
        # trigger the API client's token refresh (which would ask the same endpoint again).
        self._token_http = UpstreamHttpClient(base_url=self.base_url, **options)
        self._api_http = UpstreamHttpClient(
            base_url=self.base_url + API_PATH,
            headers={"Accept": "application/json"},
            auth=BearerFromCache(self),
            token_refresher=self._renew_token,
            **options,
        )

    # --- token -------------------------------------------------------------------------------------

    def token(self) -> CachedToken:
        """`POST /services/mtm/v1/oauth2/token`, Basic `apitoken:{token}`, `grant_type=client_credentials`."""
        try:
            response = self._token_http.post(
                TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {self._basic}", "Accept": "application/json"},
            )
            body = self._token_http.json_of(response)
        except UpstreamError as exc:
            raise leanix_words(exc) from exc
        if not isinstance(body, dict) or not body.get("access_token"):
            raise UpstreamRejected("LeanIX's token endpoint answered without an access token.", status_code=200)
        expires_in = float(body.get("expires_in") or DEFAULT_EXPIRES_IN)
        return self._token_keep(CachedToken.issued(str(body["access_token"]), expires_in=expires_in, now=self._clock()))

    # --- synchronisation runs ----------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._api_http.request(method, path, **kwargs)
        except UpstreamError as exc:
            raise leanix_words(exc) from exc

    def run_create(self, ldif: bytes) -> str:
        """`POST /synchronizationRuns` with the LDIF; the run's id (LeanIX answers `{"id"}`, the Swagger a list)."""
        response = self._call(
            "POST", "/synchronizationRuns", content=ldif, headers={"Content-Type": "application/json"}
        )
        body = self._api_http.json_of(response)
        first = body[0] if isinstance(body, list) and body else body
        if not isinstance(first, dict) or not first.get("id"):
            raise UpstreamRejected("LeanIX created a run but its answer carries no run id.", status_code=200)
        return str(first["id"])

    def run_start(self, run_id: str) -> None:
        """`POST /synchronizationRuns/{id}/start` (200, no body)."""
        self._call("POST", f"/synchronizationRuns/{run_id}/start")

    def run_status(self, run_id: str) -> dict[str, Any]:
        """`GET /synchronizationRuns/{id}/status` → `{id, status, description}`."""
        body = self._api_http.json_of(self._call("GET", f"/synchronizationRuns/{run_id}/status"))
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise UpstreamRejected("LeanIX's run status carries no status.", status_code=200)
        return body

    def run_stop(self, run_id: str) -> None:
        """`POST /synchronizationRuns/{id}/stop` (400 when the run is no longer pending or running)."""
        self._call("POST", f"/synchronizationRuns/{run_id}/stop")

    def run_warnings(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every page of `GET …/{id}/warnings?offset=&limit=100` (offset a multiple of limit)."""
        offset = 0
        while True:
            params = {"offset": offset, "limit": WARNINGS_PAGE}
            response = self._call("GET", f"/synchronizationRuns/{run_id}/warnings", params=params)
            page = self._api_http.json_of(response)
            if not isinstance(page, list):
                raise UpstreamRejected("LeanIX's warnings are not a list.", status_code=200)
            yield from (warning for warning in page if isinstance(warning, dict))
            if len(page) < WARNINGS_PAGE:
                return
            offset += WARNINGS_PAGE

    def run_results(self, run_id: str) -> bytes | None:
        """`GET …/{id}/results`: the LDIF's bytes, or None while LeanIX answers 204 (not ready yet)."""
        response = self._call("GET", f"/synchronizationRuns/{run_id}/results")
        if response.status_code == 204:
            return None
        self._api_http.refuse_html(response)
        return response.content

    # --- processor configurations ------------------------------------------------------------------

    def configuration_put(self, configuration: dict[str, Any]) -> None:
        """`PUT /configurations`: inserts or replaces the configuration of its binding (204)."""
        self._call("PUT", "/configurations", json=configuration, reconcile=REPLACES_WHOLE)


def results_items(ldif: bytes) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(`lxWorkspace` as known so far, content item) for each item of a results LDIF, parsed as a stream
    of events from the bytes: no decoded copy of the document and no list of all its items is made."""
    workspace: str | None = None
    builder: ijson.ObjectBuilder | None = None
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(ldif), use_float=True):
            if builder is not None:
                if prefix == "content" and event == "end_array":
                    builder = None
                    continue
                builder.event(event, value)
                if prefix == "content.item" and event == "end_map":
                    yield workspace, builder.value
                    builder = ijson.ObjectBuilder()
            elif prefix == "lxWorkspace" and event == "string":
                workspace = value
            elif prefix == "content" and event == "start_array":
                builder = ijson.ObjectBuilder()
    except ijson.JSONError as exc:
        message = f"{UPSTREAM}: GET …/synchronizationRuns/{{id}}/results returned 200 with invalid JSON: {exc}"
        raise MalformedResponse(message, status_code=200) from exc
