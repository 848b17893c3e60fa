"""The schedule fields (ours, beside Knora's): `sync_interval_minutes` and `run_after_sources` in and out."""

import pytest

from integrations.models import Integration
from tests.integrations.test_oauth import consent, posted_message, provider, start  # noqa: F401 (provider: a fixture)

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
SHELF_CONFIG = {"base_url": "http://127.0.0.1:9", "api_key": "shelf-key"}


def error_details(response) -> dict:
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    return response.json()["error"]["details"]


def create(client, **fields):
    body = {"type": "shelf", "name": "Shelf", "config": SHELF_CONFIG, **fields}
    return client.post(BASE, body, format="json")


def test_create_stores_and_shows_the_schedule_and_the_list_shows_it(admin_client):
    response = create(admin_client, sync_interval_minutes=15, run_after_sources=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sync_interval_minutes"] == 15 and body["run_after_sources"] is True
    stored = Integration.objects.get(id=body["id"])
    assert (stored.sync_interval_minutes, stored.run_after_sources) == (15, True)
    listed = admin_client.get(BASE).json()["integrations"][0]
    assert listed["sync_interval_minutes"] == 15 and listed["run_after_sources"] is True


def test_without_the_fields_an_integration_is_manual_only(admin_client):
    body = admin_client.post(BASE, {"type": "webhook", "name": "Hook"}, format="json").json()
    assert body["sync_interval_minutes"] is None and body["run_after_sources"] is False


@pytest.mark.parametrize("value", [0, -5, 1.5, 2.0, "10", True, False, 525_601, [], {}])
def test_a_bad_interval_is_a_validation_error_naming_the_field(admin_client, value):
    assert "sync_interval_minutes" in error_details(create(admin_client, sync_interval_minutes=value))
    assert Integration.objects.count() == 0


@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True, 525_601])
def test_patch_refuses_a_bad_interval_and_keeps_the_stored_one(admin_client, value):
    created = create(admin_client, sync_interval_minutes=30).json()
    response = admin_client.patch(BASE + created["id"], {"sync_interval_minutes": value}, format="json")
    assert "sync_interval_minutes" in error_details(response)
    assert Integration.objects.get(id=created["id"]).sync_interval_minutes == 30


@pytest.mark.parametrize("value", [1, 525_600])
def test_the_bounds_are_accepted(admin_client, value):
    assert create(admin_client, sync_interval_minutes=value).json()["sync_interval_minutes"] == value


def test_patch_sets_and_clears_the_schedule_and_leaves_the_rest_alone(admin_client):
    created = create(admin_client, name="Kept").json()
    patched = admin_client.patch(BASE + created["id"], {"sync_interval_minutes": 60}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["sync_interval_minutes"] == 60 and patched.json()["name"] == "Kept"
    patched = admin_client.patch(BASE + created["id"], {"run_after_sources": True}, format="json").json()
    # A PATCH that leaves a field out does not touch it.
    assert patched["sync_interval_minutes"] == 60 and patched["run_after_sources"] is True
    cleared = admin_client.patch(BASE + created["id"], {"sync_interval_minutes": None}, format="json").json()
    assert cleared["sync_interval_minutes"] is None and cleared["run_after_sources"] is True
    stored = Integration.objects.get(id=created["id"])
    assert (stored.sync_interval_minutes, stored.run_after_sources) == (None, True)
    assert stored.config["api_key"] == "shelf-key"


@pytest.mark.parametrize("value", ["true", 1, None, "yes"])
def test_run_after_sources_must_be_a_boolean(admin_client, value):
    assert "run_after_sources" in error_details(create(admin_client, run_after_sources=value))


def test_run_after_sources_is_refused_for_a_connector_that_is_not_a_destination(admin_client, notes):
    config = {"base_url": notes.url, "api_key": "notes-key"}
    body = {"type": "notes", "name": "Notes", "config": config, "run_after_sources": True}
    assert "run_after_sources" in error_details(admin_client.post(BASE, body, format="json"))
    hook = admin_client.post(BASE, {"type": "webhook", "name": "Hook"}, format="json").json()
    response = admin_client.patch(BASE + hook["id"], {"run_after_sources": True}, format="json")
    assert "run_after_sources" in error_details(response)
    assert Integration.objects.get(id=hook["id"]).run_after_sources is False
    # False is what a source already is: accepted, and a source may still be scheduled.
    response = admin_client.patch(
        BASE + hook["id"], {"run_after_sources": False, "sync_interval_minutes": 5}, format="json"
    )
    assert response.status_code == 200 and response.json()["sync_interval_minutes"] == 5


def test_finalising_an_oauth_grant_takes_the_schedule_too(admin_client, org, provider, client):  # noqa: F811
    grant = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))
    body = {"type": "fakeoauth", "name": "Mine", "pending_integration_id": grant["integrationId"]}
    refused = admin_client.post(BASE, {**body, "run_after_sources": True}, format="json")
    assert "run_after_sources" in error_details(refused)
    assert Integration.objects.get(id=grant["integrationId"]).is_pending
    response = admin_client.post(BASE, {**body, "sync_interval_minutes": 30}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["sync_interval_minutes"] == 30
    stored = Integration.objects.get(id=grant["integrationId"])
    assert not stored.is_pending and stored.sync_interval_minutes == 30
