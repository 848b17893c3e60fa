"""Fixtures of the webhook tests: a webhook integration made through the real API."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def webhook(admin_client) -> dict[str, Any]:
    """A webhook integration created through the real API: its 201 body, secret and URL included."""
    response = admin_client.post("/api/v1/integrations/", {"type": "webhook", "name": "Deploys"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()
