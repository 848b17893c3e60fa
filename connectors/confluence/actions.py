"""The six page actions of the seed, with its input shapes, run against the v2 API."""

from __future__ import annotations

from typing import Any

from connectors.base import ActionField, ActionInputInvalid, ActionSpec
from connectors.capabilities import Actions
from connectors.confluence.client import LIST_LIMIT, ConfluenceClient
from connectors.confluence.mapping import web_url


def _options(*pairs: tuple[Any, str]) -> tuple[dict[str, Any], ...]:
    return tuple({"value": value, "label": label} for value, label in pairs)


LIMITS = _options((10, "10"), (25, "25 (default)"), (50, "50"), (100, "100"))
STARTS = _options((0, "0 (default)"), (10, "10"), (25, "25"), (50, "50"))
PAGE_STATUSES = _options(("current", "Current published pages"), ("archived", "Archived pages"),
                         ("trashed", "Trashed pages"), ("draft", "Draft pages"))  # fmt: skip
WRITE_FORMATS = _options(("storage", "Storage Format (default)"), ("wiki", "Wiki Markup"))
WRITE_STATUSES = _options(("current", "Published page (default)"), ("draft", "Draft page"))
PAGE_EXPAND = _options(("body.storage", "Page content"), ("version", "Version info"), ("ancestors", "Parent pages"),
                       ("children", "Child pages"), ("descendants", "All pages below"), ("space", "Space"))  # fmt: skip
SPACE_EXPAND = _options(("description", "Space description"), ("metadata", "Space metadata"),
                        ("icon", "Space icon"), ("homepage", "Homepage"), ("All", "All of them"))  # fmt: skip
CONTENT = ActionField("body.storage.value", "Page Content", "The content in storage format (HTML-like XHTML) "
                      "or wiki markup, as `representation` says.", required=True)  # fmt: skip

ACTIONS = (
    ActionSpec("create_page", "Create Page", "Creates a new page in a space.", "write", (
        ActionField("title", "Page Title", "The title of the page to create.", required=True),
        ActionField("spaceKey", "Space Key", "The key of the space where the page will be created.", required=True),
        CONTENT,
        ActionField("parentId", "Parent Page ID", "The ID of the parent page, for a child page."),
        ActionField("representation", "Content Format", "The format of the content.", "select",
                    default="storage", options=WRITE_FORMATS),
        ActionField("status", "Status", "The status of the new page.", "select", default="current",
                    options=WRITE_STATUSES),
    )),
    ActionSpec("get_page", "Get Page by ID", "Retrieves one page by its ID.", "read", (
        ActionField("pageId", "Page ID", "The ID of the page to retrieve.", required=True),
        ActionField("status", "Status", "Status of the page to return.", "select", options=PAGE_STATUSES),
        ActionField("version", "Version", "The version number of the page to retrieve.", "number", minimum=1),
        ActionField("expand", "Expand", "Comma-separated properties to include.", "multiselect", options=PAGE_EXPAND),
    )),
    ActionSpec("get_pages", "Get Pages", "Lists the pages of a space.", "read", (
        ActionField("spaceKey", "Space Key", "The key of the space to get pages from.", required=True),
        ActionField("limit", "Limit", "Maximum number of pages to return.", "number", default=25,
                    options=LIMITS, minimum=1, maximum=100),
        ActionField("start", "Start", "Index of the first page to return.", "number", default=0,
                    options=STARTS, minimum=0, maximum=1000),
        ActionField("title", "Title", "Only pages with exactly this title."),
        ActionField("status", "Status", "Status of the pages to return.", "select", default="current",
                    options=PAGE_STATUSES),
        ActionField("expand", "Expand", "Comma-separated properties to include.", "multiselect", options=PAGE_EXPAND),
    )),
    ActionSpec("get_spaces", "Get Spaces", "Lists the spaces the credentials can read.", "read", (
        ActionField("limit", "Limit", "Maximum number of spaces to return.", "number", default=25,
                    options=LIMITS, minimum=1, maximum=100),
        ActionField("start", "Start", "Index of the first space to return.", "number", default=0,
                    options=STARTS, minimum=0, maximum=1000),
        ActionField("type", "Space Type", "Type of spaces to return.", "select",
                    options=_options(("global", "Global/team spaces"), ("personal", "Personal spaces"))),
        ActionField("status", "Status", "Status of the spaces to return.", "select",
                    options=_options(("current", "Active spaces"), ("archived", "Archived spaces"))),
        ActionField("expand", "Expand", "Comma-separated properties to include.", "multiselect",
                    options=SPACE_EXPAND),
    )),
    ActionSpec("update_page", "Update Page", "Updates a page; the version is incremented.", "write", (
        ActionField("pageId", "Page ID", "The ID of the page to update.", required=True),
        ActionField("title", "Page Title", "The updated title of the page.", required=True),
        ActionField("version", "Version", "The page's current version number (it is incremented).", "number",
                    required=True, minimum=1),
        CONTENT,
        ActionField("representation", "Content Format", "The format of the content.", "select",
                    default="storage", options=WRITE_FORMATS),
        ActionField("status", "Status", "The status of the updated page.", "select", default="current",
                    options=WRITE_STATUSES),
    )),
    ActionSpec("delete_page", "Delete Page", "Moves a page to the trash.", "write", (
        ActionField("pageId", "Page ID", "The ID of the page to delete.", required=True),
    )),
)  # fmt: skip


def _expand(value: str | None) -> set[str]:
    return {part for part in (value or "").split(",") if part}


def _page_id(value: str) -> str:
    if not value.strip().isdigit():
        raise ActionInputInvalid({"pageId": ["Must be a page ID: digits only."]})
    return value.strip()


class ConfluenceActions(Actions):
    """Runs the six actions; the connector provides `client()` and `site_base()`."""

    actions = ACTIONS

    def client(self) -> ConfluenceClient:
        raise NotImplementedError

    def site_base(self) -> str:
        raise NotImplementedError

    def run_action(self, name: str, input: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_action_{name}")
        with self.client() as client:
            return handler(client, input)

    # --- helpers --------------------------------------------------------------------------------

    def _space_by_key(self, client: ConfluenceClient, key: str) -> dict[str, Any]:
        """The v2 space for a key (the actions take keys, v2 wants ids)."""
        results = client.spaces_page([("keys", key), ("limit", 1)])[1].get("results") or []
        if not results:
            raise ActionInputInvalid({"spaceKey": [f"No space {key!r} that these credentials can read."]})
        return results[0]

    def _page_out(
        self, page: dict[str, Any], base: str, *, space: dict[str, Any] | None = None, expand: set[str] | None = None
    ) -> dict[str, Any]:
        """The seed's response fields of a page; body, version and space as `expand` asks."""
        expand = {"body.storage", "version", "space"} if expand is None else expand
        version = page.get("version") or {}
        out: dict[str, Any] = {
            "id": str(page.get("id")), "title": page.get("title"), "status": page.get("status"),
            "url": web_url(page, base), "spaceId": page.get("spaceId"), "parentId": page.get("parentId"),
            "authorId": page.get("authorId"), "createdAt": page.get("createdAt"),
            "lastModifiedAt": version.get("createdAt"),
        }  # fmt: skip
        if "version" in expand:
            out["version"] = {key: version.get(key) for key in ("number", "message", "createdAt", "authorId")}
        if "body.storage" in expand and (page.get("body") or {}).get("storage"):
            out["body"] = {"storage": {"value": page["body"]["storage"].get("value"), "representation": "storage"}}
        if "space" in expand and space is not None:
            out["space"] = {"id": str(space.get("id")), "key": space.get("key"), "name": space.get("name")}
        return out

    def _with_tree(self, client: ConfluenceClient, out: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        """Ancestors, children and descendants, as `expand` asks (v2 has no expansions: one call each)."""
        if "ancestors" in expand:
            out["ancestors"] = [{"id": a.get("id"), "type": a.get("type")} for a in client.page_ancestors(out["id"])]
        if "children" in expand:
            out["children"] = [{key: c.get(key) for key in ("id", "title", "type", "status")}
                               for c in client.page_direct_children(out["id"])]  # fmt: skip
        if "descendants" in expand:
            out["descendants"] = [{key: d.get(key) for key in ("id", "title", "type", "parentId", "depth")}
                                  for d in client.page_descendants(out["id"])]  # fmt: skip
        return out

    def _base(self, answer: dict[str, Any]) -> str:
        return (answer.get("_links") or {}).get("base") or self.site_base()

    def _window(self, items: list[Any], start: int, limit: int) -> list[Any]:
        return items[start : start + limit]

    # --- the six actions ------------------------------------------------------------------------

    def _action_create_page(self, client: ConfluenceClient, data: dict[str, Any]) -> dict[str, Any]:
        space = self._space_by_key(client, data["spaceKey"])
        body: dict[str, Any] = {
            "spaceId": str(space["id"]), "status": data["status"], "title": data["title"],
            "body": {"representation": data["representation"], "value": data["body"]["storage"]["value"]},
        }  # fmt: skip
        if data.get("parentId"):
            body["parentId"] = _page_id(data["parentId"])
        page = client.page_create(body)
        return self._page_out(page, self._base(page), space=space, expand={"version", "space"})

    def _action_get_page(self, client: ConfluenceClient, data: dict[str, Any]) -> dict[str, Any]:
        expand = _expand(data.get("expand"))
        params: list[tuple[str, Any]] = [("body-format", "storage")] if "body.storage" in expand else []
        if data.get("status"):
            params.append(("status", data["status"]))
        if data.get("version"):
            params.append(("version", data["version"]))
        page = client.page(_page_id(data["pageId"]), params)
        space = None
        if page.get("spaceId"):
            space = (client.spaces_page([("ids", page["spaceId"]), ("limit", 1)])[1].get("results") or [None])[0]
        # The seed answers version, space, dates and author always, the content when expanded.
        out = self._page_out(page, self._base(page), space=space, expand=expand | {"version", "space"})
        return self._with_tree(client, out, expand)

    def _action_get_pages(self, client: ConfluenceClient, data: dict[str, Any]) -> dict[str, Any]:
        space = self._space_by_key(client, data["spaceKey"])
        expand = _expand(data.get("expand"))
        wanted = data["start"] + data["limit"]
        pages: list[tuple[dict[str, Any], dict[str, Any]]] = []
        # v2 pages by cursor only: the seed's `start` is served by reading up to start + limit.
        for page, body in client.space_pages(
            str(space["id"]), body_format="storage" if "body.storage" in expand else None,
            limit=min(LIST_LIMIT, wanted), status=data["status"], title=data.get("title"),
        ):  # fmt: skip
            pages.append((page, body))
            if len(pages) >= wanted:
                break
        window = self._window(pages, data["start"], data["limit"])
        # The seed answers space information always (it is known here), version and content when expanded.
        shown = expand | {"space"}
        results = [
            self._with_tree(client, self._page_out(page, self._base(body), space=space, expand=shown), expand)
            for page, body in window
        ]
        return {"results": results, "start": data["start"], "limit": data["limit"], "size": len(results)}

    def _action_get_spaces(self, client: ConfluenceClient, data: dict[str, Any]) -> dict[str, Any]:
        expand = _expand(data.get("expand"))
        if "All" in expand:
            expand = {"description", "metadata", "icon", "homepage"}
        wanted = data["start"] + data["limit"]
        params: list[tuple[str, Any]] = [("limit", min(LIST_LIMIT, wanted))]
        params += [(key, data[key]) for key in ("type", "status") if data.get(key)]
        if "description" in expand:
            params.append(("description-format", "plain"))
        if "icon" in expand:
            params.append(("include-icon", "true"))
        spaces: list[dict[str, Any]] = []
        response, body = client.spaces_page(params)
        while True:
            spaces += body.get("results") or []
            link = None if len(spaces) >= wanted else (body.get("_links") or {}).get("next")
            if not link:
                break
            response, body = client.follow(link)
        window = self._window(spaces, data["start"], data["limit"])
        results = [self._space_out(space, expand, self._base(body)) for space in window]
        return {"results": results, "start": data["start"], "limit": data["limit"], "size": len(results)}

    def _space_out(self, space: dict[str, Any], expand: set[str], base: str) -> dict[str, Any]:
        out = {key: space.get(key) for key in ("id", "key", "name", "type", "status")}
        out["url"] = web_url(space, base)
        if "description" in expand:
            out["description"] = ((space.get("description") or {}).get("plain") or {}).get("value", "")
        if "metadata" in expand:
            out["metadata"] = {key: space.get(key) for key in ("authorId", "createdAt", "currentActiveAlias")}
        if "icon" in expand:
            out["icon"] = space.get("icon")
        if "homepage" in expand:
            out["homepage"] = {"id": space.get("homepageId")}
        return out

    def _action_update_page(self, client: ConfluenceClient, data: dict[str, Any]) -> dict[str, Any]:
        page_id = _page_id(data["pageId"])
        body = {
            "id": page_id, "status": data["status"], "title": data["title"],
            "body": {"representation": data["representation"], "value": data["body"]["storage"]["value"]},
            "version": {"number": data["version"] + 1, "message": "Updated through Tributary"},
        }  # fmt: skip
        page = client.page_update(page_id, body)
        return self._page_out(page, self._base(page), expand={"version"})

    def _action_delete_page(self, client: ConfluenceClient, data: dict[str, Any]) -> dict[str, Any]:
        page_id = _page_id(data["pageId"])
        status = client.page_delete(page_id)
        return {"deleted": True, "pageId": page_id, "status_code": status}
