"""Confluence with Basic auth through the API: live check on create, connection-health, preview."""

import pytest

from hub.models import Role
from integrations.models import Integration, KnowledgeEntry
from tests.fakes.confluence_fixtures import seed_spaces

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


def create(client, config: dict, name: str = "Wiki"):
    return client.post(BASE, {"type": "confluence", "name": name, "config": config}, format="json")


def test_the_registry_shows_confluence_with_both_ways_to_connect(admin_client):
    connectors = admin_client.get(f"{BASE}connectors").json()["connectors"]
    confluence = next(c for c in connectors if c["type"] == "confluence")
    assert (confluence["auth_flow"], confluence["provider"], confluence["direction"]) == (
        "oauth_popup", "atlassian", "source",
    )  # fmt: skip
    fields = {f["key"]: f for f in confluence["config_schema"]}
    assert list(fields) == ["site_url", "email", "api_token", "spaces"]
    assert fields["api_token"]["type"] == "password"


def test_create_with_good_basic_credentials_checks_them_live_and_seals_the_token(admin_client, atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 1})
    response = create(admin_client, {**basic_config, "spaces": "ENG", "site_url": atlassian.site_url + "/wiki/"})
    assert response.status_code == 201, response.content
    assert "config" not in response.json()
    integration = Integration.objects.get(id=response.json()["id"])
    assert integration.config["site_url"] == atlassian.site_url
    assert atlassian.model.api_token not in integration.config_sealed
    assert any(path.startswith("/wiki/api/v2/spaces") for _, path in atlassian.model.requests)


@pytest.mark.parametrize(
    ("change", "field_or_message"),
    [
        ({"api_token": "wrong"}, "401"),
        ({"email": "someone@else.example"}, "401"),
        ({"spaces": "ENG,NOPE"}, "NOPE"),
    ],
)
def test_create_with_credentials_confluence_refuses_is_a_400_and_creates_nothing(
    admin_client, atlassian, basic_config, change, field_or_message
):
    seed_spaces(atlassian, {"ENG": 1})
    response = create(admin_client, {**basic_config, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and field_or_message in error["details"]["config"][0]
    assert not Integration.objects.exists()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"site_url": "https://x.atlassian.net"}, "config.email"),
        ({"site_url": "ftp://x", "email": "a@b.c", "api_token": "t"}, "config.site_url"),
        ({"spaces": "ENG, bad key!"}, "config.spaces"),
    ],
)
def test_incomplete_or_malformed_config_is_a_400_on_the_field(admin_client, atlassian, config, field):
    response = create(admin_client, config)
    assert response.status_code == 400 and field in response.json()["error"]["details"]


def test_create_without_any_credentials_says_how_to_connect(admin_client, atlassian):
    response = create(admin_client, {"spaces": "ENG"})
    assert response.status_code == 400
    assert "connect with Atlassian" in response.json()["error"]["details"]["config"][0]


def test_an_unreachable_site_is_an_upstream_error(admin_client, atlassian, basic_config):
    atlassian.servers["site"].shutdown()
    atlassian.servers["site"].server_close()
    response = create(admin_client, basic_config)
    assert response.status_code == 502 and response.json()["error"]["code"] == "UPSTREAM_ERROR"


def test_the_plan_limit_comes_before_the_live_check(make_org, make_member, client_for, atlassian, basic_config):
    free = make_org("Tiny", plan="free")
    Integration.objects.create(organisation=free, type="webhook", name="Only")
    response = create(client_for(make_member(free, Role.ADMIN)), basic_config)
    assert response.json()["error"]["code"] == "PLAN_UPGRADE_REQUIRED"
    assert atlassian.model.requests == []


def test_connection_health_makes_one_cheap_call_and_reports_revoked_tokens(admin_client, atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 1})
    integration_id = create(admin_client, basic_config).json()["id"]
    atlassian.model.requests.clear()
    health = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert health["healthy"] is True and atlassian.site_url in health["message"]
    assert len(atlassian.model.requests) == 1 and "limit=1" in atlassian.model.requests[0][1]
    atlassian.model.api_token = "revoked"
    health = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert health["healthy"] is False and "401" in health["message"]
    assert Integration.objects.get(id=integration_id).status == "error"


def test_preview_counts_pages_per_space_and_writes_nothing(admin_client, atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 3, "HR": 1})
    integration_id = create(admin_client, basic_config).json()["id"]
    atlassian.model.requests.clear()
    preview = admin_client.get(f"{BASE}{integration_id}/preview").json()
    assert preview["items"] == [{"label": "ENG: Space ENG", "count": 3}, {"label": "HR: Space HR", "count": 1}]
    assert preview["estimated_entries"] == 4 and preview["summary"] == "Found 4 pages in 2 spaces"
    assert not any("body-format" in path for _, path in atlassian.model.requests)
    assert not KnowledgeEntry.objects.exists()


def test_a_refused_preview_is_a_502(admin_client, atlassian, basic_config):
    integration_id = create(admin_client, basic_config).json()["id"]
    atlassian.model.fail("/spaces", 403, times=10)
    response = admin_client.get(f"{BASE}{integration_id}/preview")
    assert response.status_code == 502 and "403" in response.json()["error"]["message"]


def test_patching_credentials_or_spaces_checks_them_live_and_keeps_the_old_ones_on_refusal(
    admin_client, atlassian, basic_config
):
    seed_spaces(atlassian, {"ENG": 1, "HR": 1})
    integration_id = create(admin_client, {**basic_config, "spaces": "ENG"}).json()["id"]
    url = f"{BASE}{integration_id}"
    refused = admin_client.patch(url, {"config": {**basic_config, "api_token": "wrong"}}, format="json")
    assert refused.status_code == 400 and "401" in refused.json()["error"]["details"]["config"][0]
    unknown = admin_client.patch(url, {"config": {**basic_config, "spaces": "NOPE"}}, format="json")
    assert unknown.status_code == 400 and "NOPE" in unknown.json()["error"]["details"]["config"][0]
    assert Integration.objects.get(id=integration_id).config["api_token"] == atlassian.model.api_token
    # The token is a password field: left out, it keeps its stored value and still passes the check.
    moved = {key: value for key, value in basic_config.items() if key != "api_token"}
    assert admin_client.patch(url, {"config": {**moved, "spaces": "HR"}}, format="json").status_code == 200
    assert Integration.objects.get(id=integration_id).config["spaces"] == "HR"
