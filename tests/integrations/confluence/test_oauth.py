"""The Atlassian OAuth 2.0 (3LO) popup for Confluence, and rotating refresh tokens during a sync."""

import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.db import connections

from connectors.base import Record
from connectors.confluence.client import LIST_LIMIT
from connectors.errors import CredentialExpired
from integrations.models import Integration
from integrations.services import connector_for
from tests.connectors.confluence.helpers import pull_all
from tests.fakes.confluence import CLIENT_ID
from tests.fakes.confluence_fixtures import seed_spaces
from tests.integrations.test_oauth import posted_message

pytestmark = pytest.mark.django_db
START = "/api/v1/integrations/oauth/start"


def start(client, org):
    return client.get(START, {"connector": "confluence", "org_id": str(org.id)})


def consent(auth_url: str) -> str:
    """The browser at Atlassian: the callback path and query it is redirected to."""
    response = httpx.get(auth_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = httpx.URL(response.headers["Location"])
    return f"{location.path}?{location.query.decode()}"


@pytest.fixture
def connected(admin_client, org, atlassian, client, settings) -> Integration:
    """An OAuth integration made through the popup and finalised with a space selection."""
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    message = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))
    body = {"type": "confluence", "name": "Wiki", "pending_integration_id": message["integrationId"],
            "config": {"spaces": "ENG"}}  # fmt: skip
    assert admin_client.post("/api/v1/integrations/", body, format="json").status_code == 201
    return Integration.objects.get(id=message["integrationId"])


def test_start_returns_atlassians_authorization_url(admin_client, org, atlassian, settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com/"
    body = start(admin_client, org).json()
    url = urlsplit(body["auth_url"])
    params = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert body["connector"] == "confluence"
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{atlassian.auth_url}/authorize"
    assert params["audience"] == "api.atlassian.com" and params["prompt"] == "consent"
    assert params["client_id"] == CLIENT_ID and params["response_type"] == "code" and params["state"]
    assert params["redirect_uri"] == "https://hub.example.com/api/v1/integrations/oauth/callback"
    assert set(params["scope"].split()) == {
        "read:space:confluence", "read:page:confluence", "write:page:confluence", "delete:page:confluence",
        "offline_access",
    }  # fmt: skip
    assert "code_challenge" not in params  # Atlassian's 3LO takes no PKCE


def test_start_without_client_credentials_is_oauth_config_error(admin_client, org, atlassian, settings):
    settings.ATLASSIAN_CLIENT_SECRET = ""
    response = start(admin_client, org)
    assert response.status_code == 500 and response.json()["error"]["code"] == "OAUTH_CONFIG_ERROR"


def test_full_popup_round_trip_learns_the_cloud_id_and_seals_the_tokens(admin_client, org, atlassian, client):
    callback = client.get(consent(start(admin_client, org).json()["auth_url"]))
    message = posted_message(callback)
    assert message["type"] == "knora:oauth:success" and message["account"] == atlassian.site_url
    integration = Integration.objects.get(id=message["integrationId"])
    assert integration.is_pending and integration.type == "confluence"
    credentials = integration.credentials
    assert credentials["cloud_id"] == atlassian.model.cloud_id and credentials["site_url"] == atlassian.site_url
    assert credentials["access_token"] not in integration.credentials_sealed
    assert credentials["refresh_token"] not in integration.credentials_sealed
    exchange = atlassian.auth_log.token_requests[0]
    assert exchange["grant_type"] == "authorization_code" and exchange["client_secret"]
    assert ("GET", "/oauth/token/accessible-resources") in atlassian.model.requests


def test_denied_consent_posts_an_error_and_creates_nothing(admin_client, org, atlassian, client):
    atlassian.auth_log.deny = True
    message = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))
    assert message["type"] == "knora:oauth:error" and message["error"] == "Access denied by user."
    assert not Integration.objects.exists()


def test_oauth_integration_syncs_through_the_api_gateway(connected, atlassian):
    seed_spaces(atlassian, {"ENG": 2, "HR": 1})
    pulled = pull_all(connector_for(connected))
    assert sorted(r.title for r in pulled.records) == ["Page ENG-0", "Page ENG-1"]
    assert pulled.records[0].url.startswith(f"{atlassian.site_url}/wiki/spaces/ENG/pages/")
    gateway = f"/ex/confluence/{atlassian.model.cloud_id}/wiki/api/v2/"
    assert any(path.startswith(gateway) for _, path in atlassian.model.requests)


def test_401_mid_sync_refreshes_once_stores_the_rotated_token_and_goes_on(connected, atlassian):
    seed_spaces(atlassian, {"ENG": LIST_LIMIT + 1})  # two list requests: the token expires between them
    old_refresh = connected.credentials["refresh_token"]
    items = connector_for(connected).pull({})
    titles = []
    for item in items:
        if isinstance(item, Record):
            titles.append(item.title)
            if len(titles) == 1:
                atlassian.model.expire_access_tokens()
    assert len(titles) == LIST_LIMIT + 1 and atlassian.model.tokens.refreshes == 1
    assert 401 in atlassian.model.answer_statuses
    stored = Integration.objects.get(id=connected.id)
    assert stored.credentials["refresh_token"] not in (old_refresh, None)
    assert stored.credentials["cloud_id"] == atlassian.model.cloud_id
    assert stored.credentials["refresh_token"] not in stored.credentials_sealed


def test_the_next_refresh_uses_the_stored_rotated_token_never_the_old_one(connected, atlassian):
    seed_spaces(atlassian, {"ENG": 1})
    for _ in range(3):
        atlassian.model.expire_access_tokens()
        # A fresh connector each time, as each sync job or action builds one from the database.
        pull_all(connector_for(Integration.objects.get(id=connected.id)))
    assert atlassian.model.tokens.refreshes == 3 and atlassian.model.tokens.reuse_detected == 0


def test_an_access_token_about_to_expire_is_refreshed_before_the_first_call(connected, atlassian):
    seed_spaces(atlassian, {"ENG": 1})
    connected.credentials = {**connected.credentials, "expires_at": int(time.time()) + 5}
    connected.save()
    assert len(pull_all(connector_for(connected)).records) == 1
    assert atlassian.model.tokens.refreshes == 1 and 401 not in atlassian.model.answer_statuses


def test_a_revoked_refresh_token_fails_with_a_reconnect_message(connected, atlassian):
    seed_spaces(atlassian, {"ENG": 1})
    atlassian.model.tokens.refresh_valid.clear()
    atlassian.model.expire_access_tokens()
    with pytest.raises(CredentialExpired) as caught:
        pull_all(connector_for(connected))
    assert "connect the account again" in caught.value.message


def test_a_process_holding_rotated_away_tokens_adopts_the_stored_ones_instead_of_reusing(connected, atlassian):
    seed_spaces(atlassian, {"ENG": 1})
    stale = connector_for(Integration.objects.get(id=connected.id))  # e.g. a long sync, started first
    atlassian.model.expire_access_tokens()
    pull_all(connector_for(Integration.objects.get(id=connected.id)))  # e.g. an action: rotates the tokens
    assert atlassian.model.tokens.refreshes == 1
    assert len(pull_all(stale).records) == 1  # its 401 leads to the stored tokens, not to a reuse
    assert atlassian.model.tokens.reuse_detected == 0 and atlassian.model.tokens.refreshes == 1


@pytest.mark.django_db(transaction=True)  # the threads read and store the credentials on connections of their own
def test_slices_refused_at_once_share_one_refresh_instead_of_spending_the_rotated_token(connected, atlassian):
    connector = connector_for(Integration.objects.get(id=connected.id))  # one run's connector, as its slices share
    atlassian.model.expire_access_tokens()
    start = threading.Barrier(4)
    headers = []

    def refused_slice() -> None:
        start.wait()
        headers.append(connector._bearer_after_refresh())  # what the HTTP layer calls on a 401
        connections.close_all()

    threads = [threading.Thread(target=refused_slice) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert atlassian.model.tokens.refreshes == 1 and atlassian.model.tokens.reuse_detected == 0
    stored = Integration.objects.get(id=connected.id).credentials
    assert headers == [{"Authorization": f"Bearer {stored['access_token']}"}] * 4


def test_patching_the_spaces_of_an_oauth_integration_checks_them_with_its_tokens(connected, atlassian, admin_client):
    seed_spaces(atlassian, {"ENG": 1, "HR": 1})
    url = f"/api/v1/integrations/{connected.id}"
    assert admin_client.patch(url, {"config": {"spaces": "HR"}}, format="json").status_code == 200
    refused = admin_client.patch(url, {"config": {"spaces": "NOPE"}}, format="json")
    assert refused.status_code == 400 and "NOPE" in refused.json()["error"]["details"]["config"][0]
    assert Integration.objects.get(id=connected.id).config == {"spaces": "HR"}
