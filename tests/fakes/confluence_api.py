"""The fake's v2 endpoints over the model: spaces, pages, cursors, versions, trash, conflicts."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tests.fakes.confluence_model import ConfluenceModel, Page, PageVersion, page_json, space_json

Answer = tuple[int, dict[str, str], Any]
DEFAULT_PAGE_STATUSES = ("current", "archived")  # v2's default when `status` is not given


def _error(status: int, title: str) -> Answer:
    return status, {}, {"errors": [{"status": status, "code": title.upper().replace(" ", "_")[:40], "title": title,
                                    "detail": None}]}  # fmt: skip


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": "fake"}).encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["o"])
    except (ValueError, KeyError, TypeError):
        return None


class V2Api:
    def __init__(self, model: ConfluenceModel, *, site_base: Callable[[], str]) -> None:
        self.model = model
        self.site_base = site_base

    def answer(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> Answer:
        routes: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", r"/spaces", self.spaces),
            ("GET", r"/spaces/(\d+)/pages", self.space_pages),
            ("GET", r"/pages", self.pages),
            ("POST", r"/pages", self.page_create),
            ("GET", r"/pages/(\d+)", self.page_get),
            ("PUT", r"/pages/(\d+)", self.page_update),
            ("DELETE", r"/pages/(\d+)", self.page_delete),
            ("GET", r"/pages/(\d+)/ancestors", self.ancestors),
            ("GET", r"/pages/(\d+)/direct-children", self.direct_children),
            ("GET", r"/pages/(\d+)/descendants", self.descendants),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and method == route_method:
                with self.model.lock:
                    return handler(*match.groups(), query=query, body=body, path=path)
        return _error(404, "Not Found")

    # --- lists ----------------------------------------------------------------------------------

    def _paged(self, items: list[dict[str, Any]], query: list[tuple[str, str]], path: str) -> Answer:
        params = dict(query)
        offset = _offset(params.get("cursor"))
        limit = int(params.get("limit") or 25)
        if offset is None:
            return _error(400, "Invalid cursor")
        window = items[offset : offset + limit]
        links: dict[str, str] = {"base": self.site_base()}
        headers: dict[str, str] = {}
        if offset + limit < len(items):
            kept = [(key, value) for key, value in query if key != "cursor"]
            links["next"] = f"/wiki/api/v2{path}?{urlencode([*kept, ('cursor', _cursor(offset + limit))])}"
            headers["Link"] = f'<{links["next"]}>; rel="next", <{self.site_base()}>; rel="base"'
        if not self.model.links_in_body:
            links.pop("next", None)
        return 200, headers, {"results": window, "_links": links}

    def spaces(self, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        keys = {value for key, value in query if key == "keys"}
        ids = {value for key, value in query if key == "ids"}
        params = dict(query)
        spaces = [
            s for s in sorted(self.model.spaces.values(), key=lambda s: int(s.id))
            if (not keys or s.key in keys) and (not ids or s.id in ids)
            and params.get("type", s.type) == s.type and params.get("status", s.status) == s.status
        ]  # fmt: skip
        description = params.get("description-format") == "plain"
        icon = params.get("include-icon") == "true"
        return self._paged([space_json(s, description=description, icon=icon) for s in spaces], query, path)

    def _statuses(self, query: list[tuple[str, str]]) -> set[str]:
        return {value for key, value in query if key == "status"} or set(DEFAULT_PAGE_STATUSES)

    def _listed(self, pages: list[Page], query: list[tuple[str, str]], path: str) -> Answer:
        params = dict(query)
        statuses = self._statuses(query)
        chosen = [p for p in pages if p.status in statuses and params.get("title", p.current.title) == p.current.title]
        body_format = params.get("body-format")
        items = [page_json(p, self.model.spaces[p.space_id], body_format=body_format) for p in chosen]
        return self._paged(items, query, path)

    def space_pages(self, space_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        if space_id not in self.model.spaces:
            return _error(404, "Not Found")
        pages = sorted((p for p in self.model.pages.values() if p.space_id == space_id), key=lambda p: int(p.id))
        return self._listed(pages, query, path)

    def pages(self, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        ids = {value for key, value in query if key == "id"}
        space_ids = {value for key, value in query if key == "space-id"}
        candidates = [self.model.pages[i] for i in ids if i in self.model.pages] if ids else self.model.pages.values()
        pages = sorted((p for p in candidates if not space_ids or p.space_id in space_ids), key=lambda p: int(p.id))
        return self._listed(pages, query, path)

    # --- one page -------------------------------------------------------------------------------

    def page_get(self, page_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        page = self.model.pages.get(page_id)
        statuses = {value for key, value in query if key == "status"} or {"current"}
        if page is None or page.status not in statuses:
            return _error(404, "Not Found")
        params = dict(query)
        version: PageVersion | None = None
        if params.get("version"):
            version = next((v for v in page.versions if v.number == int(params["version"])), None)
            if version is None:
                return _error(404, "Not Found")
        data = page_json(page, self.model.spaces[page.space_id], body_format=params.get("body-format"),
                         version=version)  # fmt: skip
        data["_links"]["base"] = self.site_base()
        return 200, {}, data

    def _written_body(self, data: dict[str, Any]) -> str | None:
        body = data.get("body") or {}
        if body.get("representation") == "wiki":  # Confluence converts wiki markup to storage
            return "".join(f"<p>{html.escape(line)}</p>" for line in str(body.get("value", "")).splitlines())
        if body.get("representation") == "storage" and isinstance(body.get("value"), str):
            return body["value"]
        return None

    def page_create(self, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        data = json.loads(body or b"{}")
        space = self.model.spaces.get(str(data.get("spaceId")))
        storage = self._written_body(data)
        if space is None:
            return _error(404, "Not Found")
        if storage is None or (data.get("status", "current") != "draft" and not data.get("title")):
            return _error(400, "A page needs a title and a body")
        if any(p.space_id == space.id and p.current.title == data.get("title") and p.status == "current"
               for p in self.model.pages.values()):  # fmt: skip
            return _error(400, "A page with this title already exists in this space")
        parent = data.get("parentId")
        if parent and (parent not in self.model.pages or self.model.pages[parent].space_id != space.id):
            return _error(404, "Not Found")
        page = self.model.add_page(space.key, data.get("title") or "", storage, status=data.get("status", "current"),
                                   parent_id=parent or space.homepage_id)  # fmt: skip
        answer = page_json(page, space, body_format="storage")
        answer["_links"]["base"] = self.site_base()
        return 200, {}, answer

    def page_update(self, page_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        data = json.loads(body or b"{}")
        page = self.model.pages.get(page_id)
        if page is None or page.status not in ("current", "draft"):
            return _error(404, "Not Found")
        storage = self._written_body(data)
        if str(data.get("id")) != page_id or storage is None or not data.get("title"):
            return _error(400, "Invalid update: id, title and body are required")
        number = (data.get("version") or {}).get("number")
        if number != page.current.number + 1:
            return _error(409, f"Version must be incremented on update. Current version is: {page.current.number}")
        self.model.edit_page(page_id, body=storage, title=data["title"], message=data["version"].get("message", ""))
        page.status = data.get("status", page.status)
        answer = page_json(page, self.model.spaces[page.space_id], body_format="storage")
        answer["_links"]["base"] = self.site_base()
        return 200, {}, answer

    def page_delete(self, page_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        page = self.model.pages.get(page_id)
        if page is None or page.status != "current":
            return _error(404, "Not Found")
        self.model.trash_page(page_id)
        return 204, {}, None

    # --- the page tree --------------------------------------------------------------------------

    def _children_of(self, page_id: str) -> list[Page]:
        children = (p for p in self.model.pages.values() if p.parent_id == page_id and p.status == "current")
        return sorted(children, key=lambda p: int(p.id))

    def ancestors(self, page_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        page = self.model.pages.get(page_id)
        if page is None:
            return _error(404, "Not Found")
        chain: list[dict[str, Any]] = []
        while page.parent_id and page.parent_id in self.model.pages:
            page = self.model.pages[page.parent_id]
            chain.insert(0, {"id": page.id, "type": "page"})  # the top-level ancestor first
        return 200, {}, {"results": chain[: int(dict(query).get("limit") or 25)], "_links": {}}

    def direct_children(self, page_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        if page_id not in self.model.pages:
            return _error(404, "Not Found")
        items = [{"id": p.id, "status": p.status, "title": p.current.title, "type": "page", "spaceId": p.space_id,
                  "childPosition": n} for n, p in enumerate(self._children_of(page_id))]  # fmt: skip
        return self._paged(items, query, path)

    def descendants(self, page_id: str, *, query: list[tuple[str, str]], body: bytes, path: str) -> Answer:
        if page_id not in self.model.pages:
            return _error(404, "Not Found")
        max_depth = int(dict(query).get("depth") or 2)
        items: list[dict[str, Any]] = []
        level, depth = [page_id], 1
        while level and depth <= max_depth:
            children = [child for parent in level for child in self._children_of(parent)]
            items += [{"id": c.id, "status": c.status, "title": c.current.title, "type": "page",
                       "parentId": c.parent_id, "depth": depth, "childPosition": n}
                      for n, c in enumerate(children)]  # fmt: skip
            level, depth = [c.id for c in children], depth + 1
        return self._paged(items, query, path)
