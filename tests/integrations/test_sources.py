"""A destination's `sources`: checked at POST / and PATCH as `config.sources`; a deleted source drops out."""

import uuid

import pytest

from hub.models import Role
from integrations.models import Integration
from integrations.sources import destination_source_ids

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
SHELF = {"base_url": "http://127.0.0.1:9", "api_key": "shelf-key"}


def created(client, body) -> str:
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def source(client, name="Notes") -> str:
    # The notes connector does not probe on create, so no upstream needs to run here.
    return created(
        client, {"type": "notes", "name": name, "config": {"base_url": "http://127.0.0.1:9", "api_key": "k"}}
    )


def destination(client, sources="", **fields) -> str:
    return created(client, {"type": "shelf", "name": "Shelf", "config": {**SHELF, "sources": sources}, **fields})


def sources_error(response) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == ["config.sources"]
    return error["details"]["config.sources"][0]


def test_valid_sources_and_empty_are_accepted(admin_client):
    first, second = source(admin_client, "A"), source(admin_client, "B")
    named = destination(admin_client, f" {first} , {second.upper()} ,")
    assert set(destination_source_ids(Integration.objects.get(id=named))) == {uuid.UUID(first), uuid.UUID(second)}
    everything = destination(admin_client, "")
    # Empty: every integration of the organisation but the destination itself (and the other shelf).
    assert set(destination_source_ids(Integration.objects.get(id=everything))) >= {uuid.UUID(first), uuid.UUID(second)}
    assert uuid.UUID(everything) not in destination_source_ids(Integration.objects.get(id=everything))


def test_an_id_of_another_organisation_is_refused(admin_client, make_org, make_member, client_for):
    theirs = source(client_for(make_member(make_org("Other"), Role.ADMIN)))
    message = sources_error(
        admin_client.post(BASE, {"type": "shelf", "name": "S", "config": {**SHELF, "sources": theirs}}, format="json")
    )
    # Told as unknown: another organisation's integration is as absent as a missing one.
    assert "No integration" in message
    assert not Integration.objects.filter(type="shelf").exists()


@pytest.mark.parametrize("value", [str(uuid.uuid4()), "not-an-id", "1234", "x" * 500, 42])
def test_unknown_and_malformed_ids_are_refused(admin_client, value):
    mine = source(admin_client)
    body = {"type": "shelf", "name": "S", "config": {**SHELF, "sources": f"{mine},{value}"}}
    response = admin_client.post(BASE, body, format="json")
    if isinstance(value, int):
        # Not text at all: refused by the config schema, under the same key.
        assert "config.sources" in response.json()["error"]["details"]
    else:
        sources_error(response)
    assert not Integration.objects.filter(type="shelf").exists()


def test_an_integration_that_is_not_a_source_is_refused(admin_client):
    other_destination = destination(admin_client)
    body = {"type": "shelf", "name": "S2", "config": {**SHELF, "sources": other_destination}}
    assert "not a source" in sources_error(admin_client.post(BASE, body, format="json"))


@pytest.mark.parametrize(
    "spelling", [str, lambda value: "{" + value.upper() + "}", lambda value: value.replace("-", "")]
)
def test_patch_refuses_the_destination_itself_in_any_spelling(admin_client, spelling):
    mine = source(admin_client)
    shelf = destination(admin_client, mine)
    patch = {"config": {**SHELF, "sources": f"{mine},{spelling(shelf)}"}}
    assert "own source" in sources_error(admin_client.patch(BASE + shelf, patch, format="json"))
    assert Integration.objects.get(id=shelf).config["sources"] == mine


def test_patch_checks_sources_like_create(admin_client):
    shelf = destination(admin_client)
    response = admin_client.patch(BASE + shelf, {"config": {**SHELF, "sources": str(uuid.uuid4())}}, format="json")
    sources_error(response)
    mine = source(admin_client)
    response = admin_client.patch(
        BASE + shelf, {"config": {"base_url": SHELF["base_url"], "sources": mine}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert destination_source_ids(Integration.objects.get(id=shelf)) == [uuid.UUID(mine)]


def test_a_deleted_source_drops_out_and_does_not_block_later_edits(admin_client):
    kept, deleted = source(admin_client, "Kept"), source(admin_client, "Gone")
    shelf = destination(admin_client, f"{kept},{deleted}")
    assert admin_client.delete(BASE + deleted).status_code == 204
    assert destination_source_ids(Integration.objects.get(id=shelf)) == [uuid.UUID(kept)]
    # The stored value still names it; a PATCH that sends it back is not refused for it...
    patch = {"config": {**SHELF, "sources": f"{kept},{deleted}", "batch_size": 10}}
    assert admin_client.patch(BASE + shelf, patch, format="json").status_code == 200
    assert destination_source_ids(Integration.objects.get(id=shelf)) == [uuid.UUID(kept)]
    # ...but another unknown id still is.
    patch = {"config": {**SHELF, "sources": f"{kept},{deleted},{uuid.uuid4()}"}}
    sources_error(admin_client.patch(BASE + shelf, patch, format="json"))


def test_naming_only_deleted_sources_publishes_nothing_not_everything(admin_client):
    source(admin_client, "Other")
    gone = source(admin_client, "Gone")
    shelf = destination(admin_client, gone)
    admin_client.delete(BASE + gone)
    assert destination_source_ids(Integration.objects.get(id=shelf)) == []
