"""PATCH: a stored secret never leaves for a new host, and only the changed columns are written."""

import pytest

from connectors import registry
from integrations.models import Integration
from integrations.services import integration_update

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
HAIILO = {"base_url": "https://acme.haiilo.example", "client_id": "acme-client", "client_secret": "haiilo-secret"}
CONFLUENCE = {"site_url": "https://acme.atlassian.net", "email": "ann@acme.example", "api_token": "atl-token"}
NOTES = {"base_url": "https://notes.acme.example", "api_key": "notes-key"}
CACHED = {"client_id": "acme-client", "access_token": "cached-access", "refresh_at": 4_000_000_000}


def stored(org, type: str, config: dict, credentials: dict | None = None) -> Integration:
    integration = Integration(organisation=org, type=type, name="Upstream")
    integration.config = registry.connector_class(type).validate_config(config)
    integration.credentials = credentials or {}
    integration.save()
    return integration


def without(config: dict, key: str) -> dict:
    return {k: v for k, v in config.items() if k != key}


@pytest.mark.parametrize(
    ("type", "config", "change", "secret"),
    [
        ("haiilo", HAIILO, {"base_url": "https://attacker.example"}, "client_secret"),
        ("haiilo", HAIILO, {"client_id": "attackers-client"}, "client_secret"),
        ("confluence", CONFLUENCE, {"site_url": "https://wiki.attacker.example"}, "api_token"),
        ("confluence", CONFLUENCE, {"email": "mallory@attacker.example"}, "api_token"),
        ("notes", NOTES, {"base_url": "https://attacker.example"}, "api_key"),
    ],
)
def test_a_new_host_or_account_without_the_secret_is_refused(admin_client, org, type, config, change, secret):
    integration = stored(org, type, config, CACHED)
    body = {"config": {**without(config, secret), **change}}
    response = admin_client.patch(f"{BASE}{integration.id}", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and set(error["details"]) == {f"config.{secret}"}
    kept = Integration.objects.get(id=integration.id)
    assert kept.config[secret] == config[secret] and kept.config == integration.config
    assert kept.credentials == CACHED


def test_a_new_host_with_the_secret_sent_again_drops_the_cached_token(admin_client, org):
    integration = stored(org, "haiilo", HAIILO, CACHED)
    url = f"{BASE}{integration.id}"
    # The same host (written differently) keeps the stored secret and the cached token.
    same_host = {**without(HAIILO, "client_secret"), "base_url": HAIILO["base_url"] + "/"}
    same = admin_client.patch(url, {"config": same_host}, format="json")
    assert same.status_code == 200, same.content
    assert Integration.objects.get(id=integration.id).credentials == CACHED
    moved = {**HAIILO, "base_url": "https://new.haiilo.example", "client_secret": "new-secret"}
    response = admin_client.patch(url, {"config": moved}, format="json")
    assert response.status_code == 200, response.content
    updated = Integration.objects.get(id=integration.id)
    assert (
        updated.config["base_url"] == "https://new.haiilo.example" and updated.config["client_secret"] == "new-secret"
    )
    assert updated.credentials == {}


def test_every_connector_with_a_password_field_declares_what_binds_it():
    for connector_cls in registry.all_connectors():
        schema = connector_cls.info.config_schema
        if any(field.type == "password" for field in schema):
            assert any(field.binds_secrets for field in schema), connector_cls.info.type
    assert {f.key for f in registry.connector_class("haiilo").info.config_schema if f.binds_secrets} == {
        "base_url",
        "client_id",
    }
    assert {f.key for f in registry.connector_class("confluence").info.config_schema if f.binds_secrets} == {
        "site_url",
        "email",
    }


def rotated_meanwhile(integration: Integration) -> None:
    """Another writer (a running sync) moves the checkpoint on and rotates the refresh token."""
    newer = Integration.objects.get(id=integration.id)
    newer.credentials = {"access_token": "new-access", "refresh_token": "rotated-refresh"}
    Integration.objects.filter(id=integration.id).update(
        sync_checkpoint={"since": 42}, credentials_sealed=newer.credentials_sealed
    )


@pytest.mark.parametrize("change", [{"name": "Renamed"}, {"config": without(NOTES, "api_key")}])
def test_a_patch_from_a_row_read_before_a_sync_wrote_keeps_the_newer_checkpoint_and_tokens(org, change):
    integration = stored(org, "notes", NOTES, {"access_token": "old-access", "refresh_token": "old-refresh"})
    Integration.objects.filter(id=integration.id).update(sync_checkpoint={"since": 1})
    stale = Integration.objects.get(id=integration.id)
    rotated_meanwhile(stale)
    integration_update(integration=stale, **change)
    after = Integration.objects.get(id=integration.id)
    assert after.sync_checkpoint == {"since": 42}
    assert after.credentials["refresh_token"] == "rotated-refresh"
    assert after.name == change.get("name", "Upstream") and after.config["api_key"] == NOTES["api_key"]
