"""The integrations layer asks a connector's class what it can do (isinstance), never its type name."""

from __future__ import annotations

from typing import Any

import pytest

from connectors import registry
from connectors.base import Connector, ConnectorInfo, Record
from connectors.capabilities import SignedCallbacks

pytestmark = pytest.mark.django_db


class Relay(Connector, SignedCallbacks):
    """A test-only upstream that posts signed callbacks, as the webhook connector's senders do."""

    info = ConnectorInfo(
        type="relay", display_name="Relay", description="", icon="", data_description="", auth_type="hmac",
        config_schema=(),
    )  # fmt: skip

    def callback_items(self, payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None) -> list[Record]:
        return []


@pytest.fixture
def relay():
    registry.register(Relay)
    yield
    registry.unregister("relay")


def test_a_connector_with_signed_callbacks_gets_a_signing_secret_shown_once(admin_client, relay):
    response = admin_client.post("/api/v1/integrations/", {"type": "relay", "name": "Relay"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["signing_secret"] and body["webhook_url"].endswith(f"/webhook/{body['id']}/receive")
    listed = admin_client.get("/api/v1/integrations/").json()["integrations"]
    assert "signing_secret" not in next(i for i in listed if i["id"] == body["id"])


def test_a_pull_source_gets_no_signing_secret(admin_client, relay):
    response = admin_client.post("/api/v1/integrations/", {"type": "notes", "name": "N", "config": {
        "base_url": "https://notes.example", "api_key": "k"}}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert "signing_secret" not in response.json()
