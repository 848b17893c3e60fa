"""Which LeanIX writes the HTTP layer sends again after a 500 (it may have applied them): only the one whose
second application is the same as the first, `PUT /configurations`. Real HTTP to a scripted upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.errors import UpstreamUnavailable
from connectors.leanix.client import API_PATH, TOKEN_PATH, LeanIXClient
from tests.fakes.scripted_http import Scripted, ScriptedHttpServer


@pytest.fixture
def leanix() -> Iterator[ScriptedHttpServer]:
    with ScriptedHttpServer() as server:
        server.script(TOKEN_PATH, Scripted(200, body={"access_token": "t", "expires_in": 3600}))
        yield server


def client_for(server: ScriptedHttpServer) -> LeanIXClient:
    return LeanIXClient(base_url=server.url, api_token="api-token-123456", max_attempts=3)


def test_a_configuration_put_answered_500_is_sent_again(leanix):
    leanix.script(f"{API_PATH}/configurations", Scripted(500), Scripted(204))
    with client_for(leanix) as client:
        client.configuration_put({"connectorType": "t", "connectorId": "i", "processors": []})
    assert [r.method for r in leanix.requests_to(f"{API_PATH}/configurations")] == ["PUT", "PUT"]


def test_a_run_start_answered_500_is_not_sent_again(leanix):
    leanix.script(f"{API_PATH}/synchronizationRuns/r1/start", Scripted(500), Scripted(200))
    with client_for(leanix) as client:
        with pytest.raises(UpstreamUnavailable, match=r"^SAP LeanIX: POST .*/start returned 500\.$"):
            client.run_start("r1")
    assert len(leanix.requests_to(f"{API_PATH}/synchronizationRuns/r1/start")) == 1
