"""Confluence Cloud REST API v2: one method per endpoint, cursor pagination, auth by Basic or 3LO."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.confluence import settings
from connectors.confluence.http import ConfluenceHttpClient
from connectors.http import Reconcile, connector_bounds

API = "/wiki/api/v2"
LIST_LIMIT = 250  # the v2 maximum for every list endpoint
IDS_PER_REQUEST = 250  # GET /pages?id=… takes at most 250 ids
UPSTREAM = "Confluence"
# A DELETE repeated after a 5xx or a timeout finds the page gone when the first one did remove it.
DELETE_RECONCILED = Reconcile(success_statuses=frozenset({404}))


def next_link(response: httpx.Response, body: dict[str, Any]) -> str | None:
    """The next page's site-relative URL (it includes /wiki): `_links.next`, else the Link header."""
    link = (body.get("_links") or {}).get("next")
    if link:
        return link
    next_url = response.links.get("next", {}).get("url")
    if not next_url:
        return None
    parts = urlsplit(next_url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class ConfluenceClient:
    """`root` is the site (`https://x.atlassian.net`) or the 3LO gateway (`…/ex/confluence/{cloudId}`)."""

    def __init__(
        self,
        *,
        root: str,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        token_refresher: Callable[[], dict[str, str]] | None = None,
        sleep: Callable[[float], None] | None = None,
        max_attempts: int = 5,
        retry_after_max: float = 60.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.root = root.rstrip("/")
        options: dict[str, Any] = {"sleep": sleep} if sleep else {}
        self.http = ConfluenceHttpClient(
            base_url=self.root,
            upstream=UPSTREAM,
            **connector_bounds(settings.REQUEST_DEADLINE_SECONDS, settings.MAX_BODY_BYTES),
            auth=auth,
            headers={"Accept": "application/json", **(headers or {})},
            token_refresher=token_refresher,
            max_attempts=max_attempts,
            retry_after_max=retry_after_max,
            connect_timeout=5.0,
            read_timeout=read_timeout,
            **options,
        )
        self.requests_made = 0

    def __enter__(self) -> ConfluenceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def _get(self, path: str, params: Any = None) -> tuple[httpx.Response, dict[str, Any]]:
        self.requests_made += 1
        response = self.http.get(path, params=params)
        return response, self.http_json(response)

    def http_json(self, response: httpx.Response) -> Any:
        """The body as JSON; MalformedResponse (naming the step and status) for anything else."""
        return self.http.json_of(response)

    def _paged(self, path: str, params: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(item, page body) for every item of every page, following the cursor to the end."""
        response, body = self._get(path, params)
        while True:
            for item in body.get("results") or []:
                yield item, body
            link = next_link(response, body)
            if not link:
                return
            response, body = self._get(link)

    def follow(self, link: str) -> tuple[httpx.Response, dict[str, Any]]:
        """GET a site-relative `_links.next` (it includes /wiki); the root prefix is added here."""
        return self._get(link)

    def spaces_page(self, params: list[tuple[str, Any]]) -> tuple[httpx.Response, dict[str, Any]]:
        """GET /spaces, one page (`keys`, `type`, `status`, `description-format`, `include-icon`, `limit`)."""
        return self._get(f"{API}/spaces", params)

    def spaces(self, *, keys: list[str] | None = None) -> Iterator[dict[str, Any]]:
        params: list[tuple[str, Any]] = [("limit", LIST_LIMIT), *(("keys", key) for key in keys or [])]
        for space, _ in self._paged(f"{API}/spaces", params):
            yield space

    def space_pages(
        self,
        space_id: str,
        *,
        body_format: str | None = None,
        limit: int = LIST_LIMIT,
        status: str = "current",
        title: str | None = None,
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """GET /spaces/{id}/pages: (page, list body) pairs; without a body format only ids and versions."""
        params: list[tuple[str, Any]] = [("limit", limit), ("status", status)]
        if body_format:
            params.append(("body-format", body_format))
        if title:
            params.append(("title", title))
        yield from self._paged(f"{API}/spaces/{space_id}/pages", params)

    def pages_by_id(self, ids: list[str], *, body_format: str = "storage") -> Iterator[tuple[dict[str, Any], dict]]:
        """GET /pages?id=…: the given pages (at most 250 ids a request), with their bodies."""
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = ids[start : start + IDS_PER_REQUEST]
            params = [("id", page_id) for page_id in chunk]
            params += [("body-format", body_format), ("status", "current"), ("limit", len(chunk))]
            yield from self._paged(f"{API}/pages", params)

    def page(self, page_id: str, params: list[tuple[str, Any]]) -> dict[str, Any]:
        """GET /pages/{id} (`body-format`, `version`, `status`)."""
        return self._get(f"{API}/pages/{page_id}", params)[1]

    def page_create(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /pages; Confluence answers 200 with the new page.

        A POST that may have been applied (a 5xx, a timeout, a reset) is retried only after looking for
        the page by its title in the space: a published page's title is unique there, so a page found
        is this one, and it is the answer. A draft's title is not unique: a draft is not sent again."""
        self.requests_made += 1
        reconcile = None if body.get("status") == "draft" else Reconcile(applied=lambda: self._page_titled(body))
        return self.http_json(self.http.post(f"{API}/pages", json=body, reconcile=reconcile))

    def _page_titled(self, body: dict[str, Any]) -> httpx.Response | None:
        """GET /pages/{id} (with its body) of the current page titled as `body` in its space, else None."""
        if not body.get("spaceId") or not body.get("title"):
            return None
        for page, _ in self.space_pages(str(body["spaceId"]), title=str(body["title"]), limit=1):
            self.requests_made += 1
            return self.http.get(f"{API}/pages/{page['id']}", params=[("body-format", "storage")])
        return None

    def page_update(self, page_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /pages/{id}; `version.number` must be the current one plus one, else 409.

        A PUT that may have been applied (a 5xx, a timeout, a reset) is retried only after reading the
        page: already at the version this PUT sets, it was applied, and that page is the answer."""
        self.requests_made += 1
        expected = (body.get("version") or {}).get("number")
        reconcile = Reconcile(applied=lambda: self._page_at_version(page_id, expected))
        return self.http_json(self.http.put(f"{API}/pages/{page_id}", json=body, reconcile=reconcile))

    def _page_at_version(self, page_id: str, number: Any) -> httpx.Response | None:
        """GET /pages/{id}: its answer when the page is at version `number`, else None."""
        self.requests_made += 1
        response = self.http.get(f"{API}/pages/{page_id}")
        page = self.http_json(response)
        version = (page.get("version") or {}).get("number") if isinstance(page, dict) else None
        return response if number is not None and version == number else None

    def page_delete(self, page_id: str) -> int:
        """DELETE /pages/{id} (to the trash); 204 on success, 404 when a retry finds it already gone."""
        self.requests_made += 1
        return self.http.delete(f"{API}/pages/{page_id}", reconcile=DELETE_RECONCILED).status_code

    def page_ancestors(self, page_id: str) -> list[dict[str, Any]]:
        """GET /pages/{id}/ancestors: the top-level ancestor first."""
        return [item for item, _ in self._paged(f"{API}/pages/{page_id}/ancestors", [("limit", LIST_LIMIT)])]

    def page_direct_children(self, page_id: str) -> list[dict[str, Any]]:
        """GET /pages/{id}/direct-children (the v2 successor of the deprecated /children)."""
        return [item for item, _ in self._paged(f"{API}/pages/{page_id}/direct-children", [("limit", LIST_LIMIT)])]

    def page_descendants(self, page_id: str, *, depth: int = 10) -> list[dict[str, Any]]:
        """GET /pages/{id}/descendants, down to `depth` levels (v2 allows at most 10)."""
        params = [("limit", LIST_LIMIT), ("depth", depth)]
        return [item for item, _ in self._paged(f"{API}/pages/{page_id}/descendants", params)]
