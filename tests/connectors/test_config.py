"""Hostile addresses in a connector's config (Haiilo's base_url, Confluence's site_url): a 400 naming the field."""

from __future__ import annotations

import pytest

from connectors.config import http_url_parts
from integrations.models import Integration
from tests.fakes.confluence_fixtures import atlassian, basic_config  # noqa: F401
from tests.fakes.haiilo import FakeHaiilo

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
HOSTILE_URLS = [
    "http://[::1",
    "http://[::1]:99999",
    "http://example.com:0",
    "http://example.com:port",
    "http://exa mple.com",
    "http://example.com\t/",
    "http://\x00example.com",
    "https://" + "a" * 64 + ".example.com",
    "https://" + "a." * 1100 + "com",
    "https://☃.example.com",
    "https://a..example.com",
    "http://[not-an-ip]",
]


@pytest.fixture
def haiilo():
    with FakeHaiilo() as server:
        yield server


@pytest.fixture(params=["haiilo", "confluence"])
def connector(request, haiilo, atlassian, basic_config):  # noqa: F811
    """(type, a valid config, the field that holds the address)."""
    if request.param == "haiilo":
        return "haiilo", haiilo.config(), "base_url"
    return "confluence", basic_config, "site_url"


def assert_names_the_field(response, field: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [f"config.{field}"], error


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_address_is_a_400_naming_the_field_on_create(admin_client, connector, url):
    kind, config, field = connector
    body = {"type": kind, "name": "Hostile", "config": {**config, field: url}}
    assert_names_the_field(admin_client.post(BASE, body, format="json"), field)
    assert not Integration.objects.exists()


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_address_is_a_400_naming_the_field_on_patch(admin_client, connector, url):
    kind, config, field = connector
    created = admin_client.post(BASE, {"type": kind, "name": "Fine", "config": config}, format="json")
    assert created.status_code == 201, created.content
    integration_id = created.json()["id"]
    response = admin_client.patch(BASE + integration_id, {"config": {**config, field: url}}, format="json")
    assert_names_the_field(response, field)
    assert Integration.objects.get(pk=integration_id).config[field] == config[field]


def test_a_hostile_address_stored_before_the_fix_gives_an_unhealthy_answer_not_a_500(admin_client, org, haiilo):
    config = {**haiilo.config(), "base_url": "http://[::1"}
    integration = Integration.objects.create(organisation=org, type="haiilo", name="Old")
    integration.config = config
    integration.save()
    health = admin_client.get(f"{BASE}{integration.id}/connection-health")
    assert health.status_code == 200 and health.json()["healthy"] is False, health.content
    assert "not valid" in health.json()["message"]
    preview = admin_client.get(f"{BASE}{integration.id}/preview")
    assert (preview.status_code, preview.json()["error"]["code"]) == (502, "UPSTREAM_ERROR")


@pytest.mark.parametrize(
    "url", ["https://acme.haiilo.com", "http://127.0.0.1:8080", "http://[::1]:8000", "https://bücher.example"]
)
def test_ordinary_addresses_are_accepted(url):
    parts, error = http_url_parts(url)
    assert error is None and parts is not None and parts.hostname


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
def test_nul_in_a_text_or_password_field_is_a_400_naming_it(admin_client, haiilo, field):
    body = {"type": "haiilo", "name": "NUL", "config": {**haiilo.config(), field: "a\x00b"}}
    assert_names_the_field(admin_client.post(BASE, body, format="json"), field)
