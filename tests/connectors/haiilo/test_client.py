"""The Haiilo client against the fake over real HTTP: the token, its cache, the renewal on 401."""

from __future__ import annotations

import base64

import pytest

from connectors.errors import CredentialInvalid, UpstreamRejected
from connectors.haiilo.client import CachedToken, HaiiloClient, token_from_credentials
from connectors.haiilo.connector import HaiiloConnector
from tests.fakes.haiilo import FakeHaiilo
from tests.fakes.scripted_http import Scripted, ScriptedHttpServer


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def client_for(haiilo: FakeHaiilo, clock: Clock | None = None, **kwargs) -> HaiiloClient:
    return HaiiloClient(
        base_url=haiilo.url,
        client_id=haiilo.tenant.client_id,
        client_secret=haiilo.tenant.client_secret,
        clock=clock or Clock(),
        **kwargs,
    )


def test_the_token_request_is_client_credentials_with_basic_client_auth():
    with ScriptedHttpServer() as upstream:
        upstream.script("/api/oauth/token", Scripted(200, body={"access_token": "t-1", "expires_in": 3600}))
        with HaiiloClient(base_url=upstream.url, client_id="my-id", client_secret="my:secret") as client:
            assert client.token().access_token == "t-1"
    request = upstream.requests_to("/api/oauth/token")[0]
    assert request.method == "POST"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"my-id:my:secret").decode()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.body == b"grant_type=client_credentials"


def test_wrong_client_credentials_are_credential_invalid(haiilo):
    with HaiiloClient(base_url=haiilo.url, client_id="tributary", client_secret="wrong") as client:
        with pytest.raises(CredentialInvalid):
            client.events_page("user", start_id=0, page_size=1)
    assert haiilo.tenant.token_requests == 0  # refused tokens are not issued


def test_the_token_is_cached_until_shortly_before_it_expires(haiilo):
    haiilo.tenant.token_lifetime = 100  # renewed 10 s early: a tenth of the lifetime, at most 60 s
    clock = Clock()
    with client_for(haiilo, clock) as client:
        client.events_page("user", start_id=0, page_size=1)
        clock.now += 89
        client.events_page("user", start_id=0, page_size=1)
        assert haiilo.tenant.token_requests == 1
        clock.now += 2
        client.events_page("user", start_id=0, page_size=1)
        assert haiilo.tenant.token_requests == 2
    assert [status for _, _, status in haiilo.tenant.requests].count(401) == 0  # never sent an expiring token


def test_a_401_fetches_a_new_token_once_and_repeats_the_call(haiilo):
    haiilo.tenant.create("user", displayName="Ann", status="ACTIVE")
    with client_for(haiilo) as client:
        client.events_page("user", start_id=0, page_size=10)
        haiilo.tenant.revoke_tokens_after = 0  # the next API request finds every token revoked
        page = client.events_page("user", start_id=0, page_size=10)
    assert [e["displayName"] for e in page.events()] == ["Ann"]
    assert haiilo.tenant.token_requests == 2
    assert [status for _, _, status in haiilo.tenant.requests if status] == [200, 200, 401, 200, 200]


def test_a_token_refused_right_after_renewal_is_credential_invalid(haiilo):
    haiilo.tenant.token_lifetime = 0  # every token is dead on arrival
    with client_for(haiilo) as client, pytest.raises(CredentialInvalid):
        client.events_page("user", start_id=0, page_size=1)
    assert haiilo.tenant.token_requests == 2  # the first token and exactly one renewal


def test_a_stored_token_is_reused_by_the_next_run_of_the_same_client(haiilo):
    stored: dict = {}
    config = HaiiloConnector.validate_config(haiilo.config())
    first = HaiiloConnector(config=config, save_credentials=stored.update)
    list(first.pull({}))
    assert haiilo.tenant.token_requests == 1 and stored["access_token"]
    second = HaiiloConnector(config=config, credentials=dict(stored))
    list(second.pull({}))
    assert haiilo.tenant.token_requests == 1
    assert token_from_credentials(stored, "another-client") is None


def test_an_answer_without_content_is_rejected_not_taken_for_an_empty_page():
    with ScriptedHttpServer() as upstream:
        upstream.script("/web/content-connector/events/user", Scripted(200, body={"amount": 0}))
        token = CachedToken("t-1", refresh_at=float("inf"))
        with HaiiloClient(base_url=upstream.url, client_id="a", client_secret="b", token=token) as client:
            page = client.events_page("user", start_id=0, page_size=10)
            with pytest.raises(UpstreamRejected, match="content"):
                list(page.events())
        assert upstream.requests_to("/web/content-connector/events/user")[0].headers["authorization"] == "Bearer t-1"
