"""The `confluence` connector: config, auth (Basic or Atlassian 3LO), probe, preview and page sync."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from connectors.base import (
    ConfigField,
    ConfigInvalid,
    Connector,
    ConnectorInfo,
    PreviewItem,
    PreviewResult,
    ProbeResult,
)
from connectors.capabilities import Preview, Probe, SlicedPull, SlicePlan
from connectors.config import http_url_parts, validate_against_schema
from connectors.confluence import settings as confluence_settings
from connectors.confluence.actions import ConfluenceActions
from connectors.confluence.auth import AtlassianOAuth, gateway_root
from connectors.confluence.client import ConfluenceClient
from connectors.confluence.pages_sync import PageSync
from connectors.errors import CredentialExpired, CredentialInvalid, InsufficientPermission, NotFoundUpstream

BASIC_FIELDS = ("site_url", "email", "api_token")
SPACE_KEY = re.compile(r"^~?[A-Za-z0-9_-]{1,255}$")
# Preview counts at most this many pages per space (4 requests of 250), then says "at least".
PREVIEW_PAGES_MAX = 1000

CONFIG_SCHEMA = (
    ConfigField(
        key="site_url", label="Site URL", placeholder="https://your-domain.atlassian.net",
        help_text="Basic authentication only: your Confluence Cloud site. Leave empty when you connect with Atlassian.",
        binds_secrets=True,
    ),
    ConfigField(key="email", label="User email", placeholder="you@example.com", binds_secrets=True,
                help_text="Basic authentication only: the Atlassian account's email address."),
    ConfigField(key="api_token", label="API token", type="password",
                help_text="Basic authentication only: an API token from id.atlassian.com/manage/api-tokens."),
    ConfigField(key="spaces", label="Spaces", placeholder="ENG, HR",
                help_text="Comma-separated space keys to sync; empty means every space the account can read."),
)  # fmt: skip


def space_keys(config: dict[str, Any]) -> list[str]:
    return [key.strip() for key in (config.get("spaces") or "").split(",") if key.strip()]


def normalised_site_url(value: str) -> str:
    """`https://x.atlassian.net` from what people paste: a trailing slash or `/wiki` is dropped."""
    value = value.strip().rstrip("/")
    return value[: -len("/wiki")] if value.endswith("/wiki") else value


class ConfluenceConnector(Connector, AtlassianOAuth, Probe, Preview, SlicedPull, ConfluenceActions):
    info = ConnectorInfo(
        type="confluence",
        display_name="Confluence Cloud",
        description="Pages from Confluence Cloud spaces, and actions on pages (create, read, update, delete).",
        icon="confluence",
        data_description="Pages (storage format and text) from the selected spaces",
        auth_type="oauth2",
        config_schema=CONFIG_SCHEMA,
    )
    probe_on_create = True
    slices_key = "spaces"
    # Seams for tests and the benchmark: how the client waits between retries and how long at most.
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    retry_after_max: float = 60.0
    read_timeout: float | None = None  # None: CONFLUENCE_READ_TIMEOUT_SECONDS

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        cleaned = validate_against_schema(cls.info.config_schema, config)
        errors: dict[str, list[str]] = {}
        given = [key for key in BASIC_FIELDS if cleaned.get(key)]
        if given and len(given) < len(BASIC_FIELDS):
            for key in BASIC_FIELDS:
                if not cleaned.get(key):
                    errors[key] = ["Basic authentication needs site_url, email and api_token together."]
        if cleaned.get("site_url"):
            cleaned["site_url"] = normalised_site_url(cleaned["site_url"])
            parts, error = http_url_parts(cleaned["site_url"])
            if parts is None:
                errors["site_url"] = [f"{error} Use the site's address, e.g. https://your-domain.atlassian.net."]
            elif parts.path or parts.query or parts.fragment or parts.username or parts.password:
                errors["site_url"] = ["Must be the site's address, e.g. https://your-domain.atlassian.net."]
        keys = space_keys(cleaned)
        if wrong := [key for key in keys if not SPACE_KEY.match(key)]:
            errors["spaces"] = [f"Not a space key: {', '.join(wrong)}."]
        if errors:
            raise ConfigInvalid(errors)
        if "spaces" in cleaned:
            cleaned["spaces"] = ",".join(keys)
        return cleaned

    # --- auth -----------------------------------------------------------------------------------

    def uses_oauth(self) -> bool:
        return bool(self.credentials.get("access_token") or self.credentials.get("refresh_token"))

    def site(self) -> str:
        """The Confluence site: from the config (Basic) or from accessible-resources (OAuth)."""
        site = self.credentials.get("site_url") if self.uses_oauth() else self.config.get("site_url")
        return (site or "").rstrip("/")

    def site_base(self) -> str:
        """The browser base of pages (`https://x.atlassian.net/wiki`), for links when an answer has none."""
        return f"{self.site()}/wiki"

    def client(self) -> ConfluenceClient:
        read_timeout = self.read_timeout or float(confluence_settings.READ_TIMEOUT_SECONDS.get())
        options = {"sleep": self.sleep, "retry_after_max": self.retry_after_max, "read_timeout": read_timeout}
        if self.uses_oauth():
            if not self.credentials.get("cloud_id"):
                raise CredentialExpired("The Atlassian grant names no Confluence site; connect the account again.")
            return ConfluenceClient(
                root=gateway_root(self.credentials["cloud_id"]),
                headers={"Authorization": f"Bearer {self.access_token_fresh()}"},
                token_refresher=self._bearer_after_refresh,
                **options,
            )
        if not all(self.config.get(key) for key in BASIC_FIELDS):
            raise CredentialInvalid(
                "Enter site_url, email and api_token for Basic authentication, or connect with Atlassian."
            )
        auth = httpx.BasicAuth(self.config["email"], self.config["api_token"])
        return ConfluenceClient(root=self.config["site_url"], auth=auth, **options)

    def _bearer_after_refresh(self) -> dict[str, str]:
        """Called by the HTTP layer once on a 401: refresh (the rotated token is stored first), retry."""
        return {"Authorization": f"Bearer {self.refresh_credentials()['access_token']}"}

    # --- capabilities ---------------------------------------------------------------------------

    def probe(self) -> ProbeResult:
        """One cheap authenticated call: the first space the credentials can read."""
        try:
            with self.client() as client:
                client.spaces_page([("limit", 1)])
                keys = space_keys(self.config)
                found = {space.get("key") for space in client.spaces(keys=keys)} if keys else set()
        except (CredentialInvalid, CredentialExpired) as exc:
            return ProbeResult(healthy=False, message=f"Confluence refused the credentials: {exc.message}")
        except (InsufficientPermission, NotFoundUpstream) as exc:
            return ProbeResult(healthy=False, message=f"Confluence refused access: {exc.message}")
        if missing := [key for key in space_keys(self.config) if key not in found]:
            return ProbeResult(healthy=False, message=f"Space(s) not found or not readable: {', '.join(missing)}.")
        return ProbeResult(healthy=True, message=f"Confluence credentials verified for {self.site()}.")

    def preview(self) -> PreviewResult:
        """Spaces and their page counts (ids only, no bodies); nothing is written."""
        items: list[PreviewItem] = []
        capped = False
        with self.client() as client:
            for space in client.spaces(keys=space_keys(self.config) or None):
                count = 0
                for _page in client.space_pages(str(space["id"])):
                    count += 1
                    if count >= PREVIEW_PAGES_MAX:
                        capped = True
                        break
                items.append(PreviewItem(label=f"{space.get('key')}: {space.get('name', '')}".strip(), count=count))
        total = sum(item.count or 0 for item in items)
        summary = f"Found {'at least ' if capped else ''}{total} pages in {len(items)} spaces"
        return PreviewResult(summary=summary, items=items, estimated_entries=total)

    @contextlib.contextmanager
    def pull_slices(self, checkpoint: dict[str, Any]) -> Iterator[SlicePlan]:
        """One slice per space (PageSync); the slices share one client."""
        with self.client() as client:
            sync = PageSync(client, space_keys=space_keys(self.config), site_base=self.site_base(), state=checkpoint)
            yield sync.plan()
