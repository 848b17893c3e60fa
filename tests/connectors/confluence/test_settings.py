"""The Confluence connector's own settings (ATLASSIAN_*): declared in its folder, read at call time."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings

from connectors.confluence import settings as confluence_settings
from connectors.confluence.connector import ConfluenceConnector

pytestmark = pytest.mark.django_db


def test_hub_settings_declare_no_atlassian_setting():
    assert not [name for name in dir(django_settings) if name.startswith("ATLASSIAN_")]
    assert "atlassian" not in getattr(django_settings, "OAUTH_PROVIDERS", {})


def test_the_oauth_app_comes_from_the_environment_at_call_time(admin_client, org, monkeypatch):
    for name in ("ATLASSIAN_CLIENT_ID", "ATLASSIAN_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    start = {"connector": "confluence", "org_id": str(org.id)}
    response = admin_client.get("/api/v1/integrations/oauth/start", start)
    assert response.status_code == 500 and response.json()["error"]["code"] == "OAUTH_CONFIG_ERROR"
    monkeypatch.setenv("ATLASSIAN_AUTH_URL", "https://auth.example.test/")
    monkeypatch.setenv("ATLASSIAN_CLIENT_ID", "env-client")
    monkeypatch.setenv("ATLASSIAN_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("ATLASSIAN_SCOPES", "read:page:confluence,offline_access")
    url = urlsplit(admin_client.get("/api/v1/integrations/oauth/start", start).json()["auth_url"])
    params = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://auth.example.test/authorize"
    assert params["client_id"] == "env-client" and params["scope"] == "read:page:confluence offline_access"


def test_defaults_when_neither_settings_nor_environment_say(monkeypatch):
    for name in ("ATLASSIAN_AUTH_URL", "ATLASSIAN_API_URL", "ATLASSIAN_CLIENT_ID", "ATLASSIAN_SCOPES"):
        monkeypatch.delenv(name, raising=False)
    provider = ConfluenceConnector._provider()
    assert provider["token_url"] == "https://auth.atlassian.com/oauth/token" and provider["client_id"] == ""
    assert confluence_settings.API_URL.get() == "https://api.atlassian.com"
    assert "offline_access" in provider["scopes"] and not ConfluenceConnector.oauth_configured()
