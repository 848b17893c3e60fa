"""A `leena` integration through the API: its listing, bad config, the live check on create, health."""

from __future__ import annotations

import pytest

from integrations.models import Integration
from tests.fakes.leena import FakeLeena, Fault

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


def create(client, config: dict):
    return client.post(BASE, {"type": "leena", "name": "Leena", "config": config}, format="json")


def test_get_connectors_lists_leena_as_an_api_key_destination_with_the_issues_fields(admin_client):
    listing = next(c for c in admin_client.get(f"{BASE}connectors").json()["connectors"] if c["type"] == "leena")
    assert (listing["auth_flow"], listing["provider"], listing["direction"]) == ("api_key", None, "destination")
    fields = {field["key"]: (field["type"], field["required"], field["default"]) for field in listing["config_schema"]}
    assert fields == {
        "client_id": ("text", True, None),
        "client_secret": ("password", True, None),
        "username": ("text", True, None),
        "password": ("password", True, None),
        "api_base_url": ("text", True, None),
        "auth_url": ("text", False, "https://acl.leena.ai"),
        "language": ("text", False, "en"),
        "sources": ("text", False, None),
        "batch_size": ("number", False, 100),
    }


def test_bad_config_is_one_400_naming_every_bad_field_and_calls_nobody(admin_client, leena: FakeLeena):
    config = {
        "client_id": "",
        "client_secret": 7,
        "password": "pw",
        "api_base_url": "ftp://leena.example",
        "auth_url": "https://user:pw@acl.leena.ai",
        "language": "english please",
        "batch_size": 501,
        "colour": "blue",
    }
    response = create(admin_client, config)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["details"]) == {
        f"config.{key}"
        for key in (
            "client_id",
            "client_secret",
            "username",
            "api_base_url",
            "auth_url",
            "language",
            "batch_size",
            "colour",
        )
    }
    assert leena.upstream.calls == [] and not Integration.objects.exists()


@pytest.mark.parametrize("batch_size", [0, 2.5, "100", True])
def test_batch_size_must_be_a_whole_number_from_1_to_500(admin_client, leena: FakeLeena, batch_size):
    response = create(admin_client, leena.config(batch_size=batch_size))
    assert response.status_code == 400 and "config.batch_size" in response.json()["error"]["details"]


def test_sources_of_another_organisation_or_unknown_are_refused(admin_client, leena: FakeLeena):
    response = create(admin_client, leena.config(sources="00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 400 and "config.sources" in response.json()["error"]["details"]


def test_create_checks_the_credentials_live_with_one_token_request_and_keeps_the_defaults(
    admin_client, leena: FakeLeena
):
    response = create(admin_client, leena.config())
    assert response.status_code == 201, response.content
    assert leena.upstream.steps() == ["token"] and leena.upstream.calls[0].detail == "bot@acme.example"
    stored = Integration.objects.get(pk=response.json()["id"]).config
    assert (stored["language"], stored["batch_size"]) == ("en", 100)
    assert "leena-secret" not in response.content.decode() and "leena-password" not in response.content.decode()


@pytest.mark.parametrize(
    "change", [{"password": "wrong"}, {"client_secret": "wrong"}, {"username": "someone@else.example"}]
)
def test_create_with_credentials_leena_refuses_is_a_400_and_creates_nothing(admin_client, leena: FakeLeena, change):
    response = create(admin_client, leena.config(**change))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and "401" in error["details"]["config"][0]
    assert not Integration.objects.exists()


def test_an_unreachable_token_host_is_an_upstream_error(admin_client, leena: FakeLeena):
    leena.upstream.path_faults["/api/v1.0/oauth/token"] = Fault(502)
    response = create(admin_client, leena.config())
    assert response.status_code == 502 and response.json()["error"]["code"] == "UPSTREAM_ERROR"


def test_connection_health_is_one_token_request_and_reports_revoked_credentials(admin_client, leena: FakeLeena):
    integration_id = create(admin_client, leena.config()).json()["id"]
    leena.upstream.calls.clear()
    health = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert health["healthy"] is True and leena.upstream.steps() == ["token"]
    leena.upstream.password = "rotated in Leena"
    health = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert health["healthy"] is False and "401" in health["message"]
    assert Integration.objects.get(id=integration_id).status == "error"


def test_a_patch_checks_new_credentials_live_and_keeps_the_old_ones_on_refusal(admin_client, leena: FakeLeena):
    integration_id = create(admin_client, leena.config()).json()["id"]
    url = f"{BASE}{integration_id}"
    public = {k: v for k, v in leena.config().items() if k not in ("client_secret", "password")}
    refused = admin_client.patch(url, {"config": {**public, "password": "wrong"}}, format="json")
    assert refused.status_code == 400 and "401" in refused.json()["error"]["details"]["config"][0]
    assert Integration.objects.get(pk=integration_id).config["password"] == "leena-password"
    # Another host without the secrets again is refused: they were given for the old one.
    moved = admin_client.patch(url, {"config": {**public, "api_base_url": "https://eu.leena.example"}}, format="json")
    assert moved.status_code == 400 and "config.password" in moved.json()["error"]["details"]
    leena.upstream.calls.clear()
    kept = admin_client.patch(url, {"config": {**public, "batch_size": 250}}, format="json")
    assert kept.status_code == 200 and Integration.objects.get(pk=integration_id).config["batch_size"] == 250
    assert leena.upstream.steps() == ["token"]  # checked live with the stored secrets


def test_an_address_the_ssrf_guard_refuses_is_never_called(admin_client, leena: FakeLeena, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = False  # as in production: 127.0.0.1 is not an upstream
    response = create(admin_client, leena.config())
    assert response.status_code == 502 and response.json()["error"] == {
        "code": "UPSTREAM_ERROR",
        "message": "Could not check the credentials: Upstream host 127.0.0.1 resolves to a refused address.",
    }
    assert leena.upstream.calls == [] and not Integration.objects.exists()
