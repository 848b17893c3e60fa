"""The page sync: full listing with bodies the first time, then versions only and changed bodies.

Incremental strategy: v2 has no "modified since" filter, so each sync lists every page's id and
version (no bodies, 250 a request) and fetches the bodies of new or changed pages only, by id, 250
a request. The listing also proves what is gone, so pruning is exact, and there is no clock, index
lag or minute-resolution window to get wrong (CQL `lastmodified` has all three and cannot see
deletions). The checkpoint keeps {space id: {page id: version}}, written after each space.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.base import Checkpoint, Deletion, Found, PullItem, RecordFailure, Warning
from connectors.confluence.client import ConfluenceClient
from connectors.confluence.mapping import page_record, version_of
from connectors.errors import UpstreamError


def _in_space(exc: UpstreamError, space: dict[str, Any]) -> UpstreamError:
    """The same error, its message naming the space and the HTTP status."""
    status = f"HTTP {exc.status_code}" if exc.status_code else "no HTTP answer"
    exc.message = f"Confluence space {space.get('key') or space['id']} ({status}): {exc.message}"
    exc.args = (exc.message,)
    return exc


class PageSync:
    """One pull over the selected spaces; `state` is the checkpoint it started from."""

    def __init__(
        self, client: ConfluenceClient, *, space_keys: list[str], site_base: str, state: dict[str, Any]
    ) -> None:
        self.client = client
        self.space_keys = space_keys
        self.site_base = site_base
        self.known: dict[str, dict[str, Any]] = dict(state.get("spaces") or {})

    def run(self) -> Iterator[PullItem]:
        spaces = list(self.client.spaces(keys=self.space_keys or None))
        yield from self._missing_keys_warnings(spaces)
        listings = {str(s["id"]): self._versions(s) for s in spaces if str(s["id"]) in self.known}
        # A page may move between spaces: nothing listed or fetched in this run is pruned.
        self.seen: set[str] = set().union(*listings.values()) if listings else set()
        if len(listings) == len(spaces):
            yield Found(sum(len(self._changed(space_id, listing)) for space_id, listing in listings.items()))
        # Spaces synced for the first time go first, so a page moved into one is seen before pruning.
        for space in sorted(spaces, key=lambda s: str(s["id"]) in listings):
            space_id = str(space["id"])
            try:
                if space_id in listings:
                    yield from self._space_incremental(space, listings[space_id])
                else:
                    yield from self._space_full(space)
            except UpstreamError as exc:
                raise _in_space(exc, space) from exc
            yield Checkpoint({"spaces": dict(self.known)})
        current_ids = {str(space["id"]) for space in spaces}
        gone = [space_id for space_id in self.known if space_id not in current_ids]
        for space_id in gone:
            # The space is gone, unreadable, or no longer selected: its pages go too.
            for page_id in self.known.pop(space_id).get("pages", {}):
                if page_id not in self.seen:
                    yield Deletion(external_id=page_id)
        if gone:
            yield Checkpoint({"spaces": dict(self.known)})

    def _missing_keys_warnings(self, spaces: list[dict[str, Any]]) -> Iterator[Warning]:
        found = {space.get("key") for space in spaces}
        for key in self.space_keys:
            if key not in found:
                yield Warning(f"Confluence space {key} was not found or these credentials cannot read it.")

    def _versions(self, space: dict[str, Any]) -> dict[str, int]:
        try:
            return {str(page["id"]): version_of(page) for page, _ in self.client.space_pages(str(space["id"]))}
        except UpstreamError as exc:
            raise _in_space(exc, space) from exc

    def _changed(self, space_id: str, listing: dict[str, int]) -> list[str]:
        stored = self.known.get(space_id, {}).get("pages", {})
        return [page_id for page_id, version in listing.items() if stored.get(page_id) != version]

    def _space_full(self, space: dict[str, Any]) -> Iterator[PullItem]:
        versions: dict[str, int] = {}
        for page, body in self.client.space_pages(str(space["id"]), body_format="storage"):
            item = self._record(page, space, body)
            if not isinstance(item, RecordFailure):
                versions[str(page["id"])] = version_of(page)
            self.seen.add(str(page["id"]))
            yield item
        self.known[str(space["id"])] = {"key": space.get("key"), "pages": versions}

    def _space_incremental(self, space: dict[str, Any], listing: dict[str, int]) -> Iterator[PullItem]:
        space_id = str(space["id"])
        stored: dict[str, int] = dict(self.known[space_id].get("pages", {}))
        for page_id in [page_id for page_id in stored if page_id not in listing]:
            stored.pop(page_id)  # trashed, deleted, archived or moved away
            if page_id not in self.seen:
                yield Deletion(external_id=page_id)
        for page, body in self.client.pages_by_id(self._changed(space_id, listing)):
            item = self._record(page, space, body)
            if not isinstance(item, RecordFailure):
                stored[str(page["id"])] = version_of(page)
            yield item
        self.known[space_id] = {"key": space.get("key"), "pages": stored}

    def _record(self, page: dict[str, Any], space: dict[str, Any], body: dict[str, Any]) -> PullItem:
        base = (body.get("_links") or {}).get("base") or self.site_base
        try:
            return page_record(page, space=space, base=base)
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"Page {page.get('id')} in space {space.get('key')} could not be read: {type(exc).__name__}."
            return RecordFailure(external_id=str(page.get("id", "")), reason=reason)
