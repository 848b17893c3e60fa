"""A test-only connector that connects through the OAuth popup against tests/fakes/oauth_provider.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from connectors.base import ConfigField, Connector, ConnectorInfo, PullItem
from connectors.capabilities import PullSource
from connectors.oauth2 import OAuth2AuthorizationCode

PROVIDER = "fakeprovider"


class FakeDriveConnector(Connector, OAuth2AuthorizationCode, PullSource):
    """Its schema has a field of each kind the console renders but password, one required without default."""

    provider: ClassVar[str] = PROVIDER

    info = ConnectorInfo(
        type="fakedrive",
        display_name="Fake Drive",
        description="A test-only source connected through an OAuth popup.",
        icon="fakedrive",
        data_description="Files and folders",
        auth_type="oauth2",
        config_schema=(
            ConfigField(
                key="folder",
                label="Folder",
                required=True,
                placeholder="/Team/Docs",
                help_text="Only files under this folder are imported.",
            ),
            ConfigField(
                key="region",
                label="Region",
                type="select",
                required=True,
                default="eu",
                options=({"value": "eu", "label": "Europe"}, {"value": "us", "label": "United States"}),
            ),
            ConfigField(
                key="max_items",
                label="Files per sync",
                type="number",
                default=100,
                help_text="At most this many files are imported in one sync.",
            ),
            ConfigField(key="include_shared", label="Include files shared with me", type="boolean", default=False),
        ),
    )

    def pull(self, checkpoint: dict[str, Any]) -> Iterator[PullItem]:
        # The browser tests never sync it; a source that finds nothing is all they need.
        yield from ()
