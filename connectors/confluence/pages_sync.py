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
from connectors.capabilities import SlicePlan
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
    """One pull over the selected spaces, one slice per space; `state` is the checkpoint it started from.

    Slices run at once, so a page that moved from one space to another could be seen gone from the
    first before the second brings it: a slice only notes what left its space (`gone` in its state)
    and `finish`, once every slice has ended, deletes what no space holds any more."""

    def __init__(
        self, client: ConfluenceClient, *, space_keys: list[str], site_base: str, state: dict[str, Any]
    ) -> None:
        self.client = client
        self.space_keys = space_keys
        self.site_base = site_base
        self.known: dict[str, dict[str, Any]] = {
            space_id: space for space_id, space in (state.get("spaces") or {}).items() if isinstance(space, dict)
        }

    def plan(self) -> SlicePlan:
        spaces = list(self.client.spaces(keys=self.space_keys or None))
        self.spaces = {str(space["id"]): space for space in spaces}
        return SlicePlan(
            slices=tuple(self.spaces),
            pull_slice=self.space_pull,
            notes=tuple(self._missing_keys_warnings(spaces)),
            finish=self.finish,
        )

    def space_pull(self, space_id: str, state: dict[str, Any]) -> Iterator[PullItem]:
        """One space: all its pages the first time, then versions and changed bodies; its state at the end."""
        space = self.spaces[space_id]
        try:
            if state.get("pages") is not None:
                yield from self._space_incremental(space, state)
            else:
                yield from self._space_full(space, state)
        except UpstreamError as exc:
            raise _in_space(exc, space) from exc

    def finish(self, checkpoint: dict[str, Any]) -> Iterator[PullItem]:
        """Delete the pages that left their space (or whose space is gone) and that no space holds now."""
        stored = checkpoint.get("spaces") or {}
        spaces = {key: dict(value) for key, value in stored.items() if isinstance(value, dict)}
        gone: set[str] = set()
        for space_id in [space_id for space_id in spaces if space_id not in self.spaces]:
            # The space is gone, unreadable, or no longer selected: its pages go too.
            left = spaces.pop(space_id)
            gone.update(left.get("pages") or {}, left.get("gone") or ())
        for space in spaces.values():
            gone.update(space.pop("gone", None) or ())
        held = set().union(*(space.get("pages") or {} for space in spaces.values())) if spaces else set()
        for page_id in sorted(gone - held):
            yield Deletion(external_id=page_id)
        yield Checkpoint({**checkpoint, "spaces": spaces})

    def _missing_keys_warnings(self, spaces: list[dict[str, Any]]) -> Iterator[Warning]:
        found = {space.get("key") for space in spaces}
        for key in self.space_keys:
            if key not in found:
                yield Warning(f"Confluence space {key} was not found or these credentials cannot read it.")

    def _space_full(self, space: dict[str, Any], state: dict[str, Any]) -> Iterator[PullItem]:
        versions: dict[str, int] = {}
        for page, body in self.client.space_pages(str(space["id"]), body_format="storage"):
            item = self._record(page, space, body)
            if not isinstance(item, RecordFailure):
                versions[str(page["id"])] = version_of(page)
            yield item
        yield Checkpoint({"key": space.get("key"), "pages": versions, "gone": list(state.get("gone") or ())})

    def _space_incremental(self, space: dict[str, Any], state: dict[str, Any]) -> Iterator[PullItem]:
        listing = {str(page["id"]): version_of(page) for page, _ in self.client.space_pages(str(space["id"]))}
        stored: dict[str, int] = dict(state.get("pages") or {})
        changed = [page_id for page_id, version in listing.items() if stored.get(page_id) != version]
        yield Found(len(changed))
        # Trashed, deleted, archived or moved away: `finish` deletes it unless another space has it.
        left = [page_id for page_id in stored if page_id not in listing]
        for page_id in left:
            stored.pop(page_id)
        gone = sorted({*(state.get("gone") or ()), *left})
        for page, body in self.client.pages_by_id(changed):
            item = self._record(page, space, body)
            if not isinstance(item, RecordFailure):
                stored[str(page["id"])] = version_of(page)
            yield item
        yield Checkpoint({"key": space.get("key"), "pages": stored, "gone": gone})

    def _record(self, page: dict[str, Any], space: dict[str, Any], body: dict[str, Any]) -> PullItem:
        base = (body.get("_links") or {}).get("base") or self.site_base
        try:
            return page_record(page, space=space, base=base)
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"Page {page.get('id')} in space {space.get('key')} could not be read: {type(exc).__name__}."
            return RecordFailure(external_id=str(page.get("id", "")), reason=reason)
