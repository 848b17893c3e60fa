"""The Haiilo config form: what GET /connectors shows, validation naming the field, secrets kept."""

from __future__ import annotations

import pytest

from integrations.models import Integration
from tests.connectors.haiilo.conftest import BASE

pytestmark = pytest.mark.django_db

VALID = {"base_url": "https://acme.haiilo.com", "client_id": "tributary", "client_secret": "s3cret"}


def test_the_registry_shows_haiilo_with_its_typed_form(admin_client):
    connectors = admin_client.get(f"{BASE}connectors").json()["connectors"]
    haiilo = next(c for c in connectors if c["type"] == "haiilo")
    assert (haiilo["auth_flow"], haiilo["auth_type"], haiilo["provider"]) == ("api_key", "api_key", None)
    fields = {f["key"]: (f["type"], f["required"], f["default"]) for f in haiilo["config_schema"]}
    assert fields == {
        "base_url": ("text", True, None),
        "client_id": ("text", True, None),
        "client_secret": ("password", True, None),
        "entity_types": ("text", False, ""),
        "page_size": ("number", False, 1000),
        "download_files": ("boolean", False, False),
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_url": None}, "base_url"),
        ({"base_url": "ftp://acme.haiilo.com"}, "base_url"),
        ({"base_url": "acme.haiilo.com"}, "base_url"),
        ({"base_url": "https://user:pw@acme.haiilo.com"}, "base_url"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": None}, "client_secret"),
        ({"client_secret": 1234}, "client_secret"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 10001}, "page_size"),
        ({"page_size": 2.5}, "page_size"),
        ({"page_size": "100"}, "page_size"),
        ({"entity_types": "blog article!"}, "entity_types"),
        ({"entity_types": 7}, "entity_types"),
        ({"download_files": "yes"}, "download_files"),
        ({"unknown": "x"}, "unknown"),
    ],
)
def test_bad_config_is_refused_with_an_error_naming_the_field(admin_client, change, field):
    config = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    response = admin_client.post(BASE, {"type": "haiilo", "name": "Intranet", "config": config}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [f"config.{field}"]
    assert not Integration.objects.exists()


def test_several_bad_fields_are_all_named_at_once(admin_client):
    config = {"base_url": "nope", "client_id": "x", "page_size": 0}
    response = admin_client.post(BASE, {"type": "haiilo", "name": "Intranet", "config": config}, format="json")
    assert set(response.json()["error"]["details"]) == {"config.base_url", "config.client_secret", "config.page_size"}


def test_a_valid_config_is_normalised_stored_sealed_and_never_shown(admin_client):
    config = {
        **VALID,
        "base_url": "https://acme.haiilo.com/",
        "entity_types": " Blog-Article, page,page ,event",
        "page_size": 500.0,
    }
    response = admin_client.post(BASE, {"type": "haiilo", "name": "Intranet", "config": config}, format="json")
    assert response.status_code == 201, response.content
    assert "s3cret" not in response.content.decode() and "config" not in response.json()
    integration = Integration.objects.get()
    assert integration.config == {
        **VALID,
        "entity_types": "blog-article,page,event",
        "page_size": 500,
        "download_files": False,
    }
    assert "s3cret" not in integration.config_sealed
    defaults = admin_client.post(BASE, {"type": "haiilo", "name": "Other", "config": VALID}, format="json")
    assert Integration.objects.get(id=defaults.json()["id"]).config["page_size"] == 1000
