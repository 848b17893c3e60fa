"""Fixtures for the Haiilo tests: a fake Haiilo on loopback and an integration pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.models import Integration
from tests.fakes.haiilo import FakeHaiilo
from tests.waiting import sync_ended

BASE = "/api/v1/integrations/"


@pytest.fixture
def integration(org, haiilo) -> Integration:
    """An integration on the fake, made directly (no API call), for runs started in the test's process."""
    from connectors.haiilo.connector import HaiiloConnector

    integration = Integration(organisation=org, type="haiilo", name="Intranet")
    integration.config = HaiiloConnector.validate_config(haiilo.config(page_size=50))
    integration.credentials = {}
    integration.save()
    return integration


@pytest.fixture
def haiilo() -> Iterator[FakeHaiilo]:
    with FakeHaiilo() as server:
        yield server


def create_integration(client, haiilo: FakeHaiilo, **config) -> str:
    body = {"type": "haiilo", "name": "Intranet", "config": haiilo.config(**config)}
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def run_sync(client, integration_id: str, timeout: float = 90) -> dict:
    """Trigger a sync through the API and wait for the worker to finish it; the job with its log."""
    return sync_ended(client, integration_id, timeout)


def start_ids(paths: list[str], fragment: str) -> list[int]:
    """The startId of every request whose path ends with `fragment` (e.g. "/events/user")."""
    found = []
    for path in paths:
        parts = urlsplit(path)
        if parts.path.endswith(fragment):
            found.append(int(parse_qs(parts.query)["startId"][0]))
    return found
