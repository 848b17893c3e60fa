"""The in-memory Confluence of the fake: spaces, pages with versions and bodies, trash, tokens."""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
ACCESS_TOKEN_SECONDS = 3600


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Space:
    id: str
    key: str
    name: str
    type: str = "global"
    status: str = "current"
    homepage_id: str | None = None
    description: str = ""


@dataclass
class PageVersion:
    number: int
    title: str
    body: str
    at: datetime
    message: str = ""


@dataclass
class Page:
    id: str
    space_id: str
    status: str
    parent_id: str | None
    author_id: str
    created_at: datetime
    versions: list[PageVersion]

    @property
    def current(self) -> PageVersion:
        return self.versions[-1]


@dataclass
class Fault:
    """Answer `status` (with `headers`) to the next `times` requests whose path contains `path`."""

    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    after: int = 0  # let this many matching requests through first
    applied: bool = False  # carry the request out first, then answer `status` (a write lost on the way back)


@dataclass
class TokenState:
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    refresh_valid: set[str] = field(default_factory=set)
    refresh_rotated: set[str] = field(default_factory=set)
    codes: dict[str, str] = field(default_factory=dict)  # code -> redirect_uri
    family_revoked: bool = False
    refreshes: int = 0
    reuse_detected: int = 0


class ConfluenceModel:
    """What the fake knows; every method is safe to call from the test while the server runs."""

    def __init__(self, *, email: str = "ann@example.com", api_token: str = "api-token-1") -> None:
        self.email, self.api_token = email, api_token
        self.cloud_id = "11111111-2222-3333-4444-" + secrets.token_hex(6)
        self.spaces: dict[str, Space] = {}
        self.pages: dict[str, Page] = {}
        self.tokens = TokenState()
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.answer_statuses: list[int] = []  # of the v2 calls, in order
        self.links_in_body = True  # False: the next page is only in the Link header
        self.delay = 0.0  # seconds before each v2 answer, to trip read timeouts
        self.lock = threading.RLock()
        self._ids = itertools.count(100001)
        self._clock = itertools.count(1)

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _now(self) -> datetime:
        return EPOCH + timedelta(minutes=next(self._clock))

    # --- content --------------------------------------------------------------------------------

    def add_space(self, key: str, name: str | None = None, **extra: Any) -> Space:
        with self.lock:
            space = Space(id=self._next_id(), key=key, name=name or f"Space {key}", **extra)
            self.spaces[space.id] = space
            return space

    def space_by_key(self, key: str) -> Space | None:
        return next((space for space in self.spaces.values() if space.key == key), None)

    def add_page(
        self,
        space_key: str,
        title: str,
        body: str = "<p>Hello</p>",
        *,
        status: str = "current",
        parent_id: str | None = None,
        author_id: str = "557058:ann",
    ) -> Page:
        with self.lock:
            space = self.space_by_key(space_key)
            assert space is not None, f"no space {space_key}"
            now = self._now()
            page = Page(
                id=self._next_id(),
                space_id=space.id,
                status=status,
                parent_id=parent_id,
                author_id=author_id,
                created_at=now,
                versions=[PageVersion(1, title, body, now)],
            )
            self.pages[page.id] = page
            return page

    def edit_page(self, page_id: str, *, body: str | None = None, title: str | None = None, message: str = "") -> Page:
        with self.lock:
            page = self.pages[page_id]
            current = page.current
            page.versions.append(
                PageVersion(
                    current.number + 1,
                    title or current.title,
                    current.body if body is None else body,
                    self._now(),
                    message,
                )
            )
            return page

    def trash_page(self, page_id: str) -> None:
        with self.lock:
            self.pages[page_id].status = "trashed"

    def purge_page(self, page_id: str) -> None:
        with self.lock:
            self.pages.pop(page_id, None)

    # --- faults and tokens ----------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after: int = 0,
        applied: bool = False,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(path, status, headers or {}, times, after, applied))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path and fault.times > 0:
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    def issue_tokens(self) -> dict[str, Any]:
        with self.lock:
            access = "atl-access-" + secrets.token_urlsafe(12)
            refresh = "atl-refresh-" + secrets.token_urlsafe(12)
            self.tokens.access[access] = time.time() + ACCESS_TOKEN_SECONDS
            self.tokens.refresh_valid.add(refresh)
            return {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "token_type": "Bearer",
                "scope": "read:page:confluence offline_access",
            }

    def rotate(self, refresh_token: str) -> dict[str, Any] | None:
        """Atlassian's rotation: the old refresh token dies; reusing it revokes the whole family."""
        with self.lock:
            if refresh_token in self.tokens.refresh_rotated or self.tokens.family_revoked:
                self.tokens.reuse_detected += 1
                self.tokens.family_revoked = True
                self.tokens.refresh_valid.clear()
                self.tokens.access.clear()
                return None
            if refresh_token not in self.tokens.refresh_valid:
                return None
            self.tokens.refresh_valid.discard(refresh_token)
            self.tokens.refresh_rotated.add(refresh_token)
            self.tokens.refreshes += 1
            return self.issue_tokens()

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.tokens.access = dict.fromkeys(self.tokens.access, 0.0)

    def bearer_ok(self, token: str) -> bool:
        with self.lock:
            return self.tokens.access.get(token, 0.0) > time.time()


def slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "+", title).strip("+")


def page_json(page: Page, space: Space, *, body_format: str | None, version: PageVersion | None = None) -> dict:
    """A page as v2 answers it (PageBulk / PageSingle)."""
    shown = version or page.current
    data: dict[str, Any] = {
        "id": page.id, "status": page.status, "title": shown.title, "spaceId": page.space_id,
        "parentType": "page", "position": None, "authorId": page.author_id, "ownerId": page.author_id,
        "lastOwnerId": None, "createdAt": _iso(page.created_at),
        "version": {"createdAt": _iso(shown.at), "message": shown.message, "number": shown.number,
                    "minorEdit": False, "authorId": page.author_id},
        "body": {"storage": {"representation": "storage", "value": shown.body}} if body_format == "storage" else {},
        "_links": {"webui": f"/spaces/{space.key}/pages/{page.id}/{slug(shown.title)}",
                   "editui": f"/pages/resumedraft.action?draftId={page.id}", "tinyui": f"/x/{page.id}"},
    }  # fmt: skip
    if page.parent_id:
        data["parentId"] = page.parent_id
    return data


def space_json(space: Space, *, description: bool, icon: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": space.id,
        "key": space.key,
        "name": space.name,
        "type": space.type,
        "status": space.status,
        "authorId": "557058:ann",
        "createdAt": _iso(EPOCH),
        "_links": {"webui": f"/spaces/{space.key}"},
    }
    if space.homepage_id:
        data["homepageId"] = space.homepage_id
    if description:
        data["description"] = {"plain": {"representation": "plain", "value": space.description}}
    if icon:
        data["icon"] = {"path": f"/images/logo/{space.key}.png", "apiDownloadLink": f"/download/{space.key}.png"}
    return data
