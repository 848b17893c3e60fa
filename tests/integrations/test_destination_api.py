"""Ours beside Knora's API for destinations: `sources` shown and patched alone, and the push preview."""

from __future__ import annotations

import pytest

from connectors.base import Record
from hub.models import Role
from integrations.knowledge import entries_upsert
from integrations.models import Integration

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


def create(client, body: dict) -> str:
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def notes(client, name: str) -> str:
    return create(client, {"type": "notes", "name": name, "config": {"base_url": "http://127.0.0.1:9", "api_key": "k"}})


def shelf(client, sources: str = "") -> str:
    config = {"base_url": "http://127.0.0.1:9", "api_key": "shelf-key", "sources": sources}
    return create(client, {"type": "shelf", "name": "Published", "config": config})


def listed(client, integration_id: str) -> dict:
    return next(i for i in client.get(BASE).json()["integrations"] if i["id"] == integration_id)


def test_the_list_shows_a_destinations_sources_that_still_exist_and_null_for_a_source(admin_client):
    first, second = notes(admin_client, "First"), notes(admin_client, "Second")
    every, named = shelf(admin_client), shelf(admin_client, f"{first},{second.upper()}")
    assert listed(admin_client, first)["sources"] is None
    assert listed(admin_client, every)["sources"] == []
    assert listed(admin_client, named)["sources"] == [first, second]
    assert admin_client.delete(f"{BASE}{second}").status_code == 204
    assert listed(admin_client, named)["sources"] == [first]


def test_patching_sources_alone_keeps_the_rest_of_the_config(admin_client, make_org, make_member, client_for):
    first, second = notes(admin_client, "First"), notes(admin_client, "Second")
    destination = shelf(admin_client, first)
    answer = admin_client.patch(f"{BASE}{destination}", {"sources": [second]}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["sources"] == [second]
    config = Integration.objects.get(pk=destination).config
    assert config == {"base_url": "http://127.0.0.1:9", "api_key": "shelf-key", "sources": second, "batch_size": 50,
                      "strict": False}  # fmt: skip

    other_org = notes(client_for(make_member(make_org("Other"), Role.ADMIN)), "Theirs")
    refused = admin_client.patch(f"{BASE}{destination}", {"sources": [first, other_org]}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert list(refused.json()["error"]["details"]) == ["config.sources"]
    itself = admin_client.patch(f"{BASE}{destination}", {"sources": [destination]}, format="json")
    assert itself.status_code == 400
    assert Integration.objects.get(pk=destination).config["sources"] == second  # nothing lost

    not_a_destination = admin_client.patch(f"{BASE}{first}", {"sources": []}, format="json")
    assert not_a_destination.status_code == 400
    assert list(not_a_destination.json()["error"]["details"]) == ["sources"]
    malformed = admin_client.patch(f"{BASE}{destination}", {"sources": "not-a-list"}, format="json")
    assert malformed.status_code == 400 and "sources" in malformed.json()["error"]["details"]


def test_a_destinations_preview_counts_what_its_next_run_would_send_per_source(admin_client):
    first, second = notes(admin_client, "First"), notes(admin_client, "Second")
    for source, count in ((first, 3), (second, 2)):
        records = [Record(external_id=f"{source}-{n}", title=f"Entry {n}", content="text") for n in range(count)]
        entries_upsert(integration=Integration.objects.get(pk=source), records=records)
    preview = admin_client.get(f"{BASE}{shelf(admin_client)}/preview").json()
    assert preview["items"] == [{"label": "First", "count": 3}, {"label": "Second", "count": 2}]
    assert (preview["estimated_entries"], preview["summary"]) == (5, "5 entries to send from 2 sources")
    only_second = admin_client.get(f"{BASE}{shelf(admin_client, second)}/preview").json()
    assert (only_second["estimated_entries"], only_second["summary"]) == (2, "2 entries to send from 1 source")
