"""GET /api/v1/knowledge/entries: what was imported, for members, never another org's."""

import pytest
from rest_framework.test import APIClient

from connectors.base import Deletion, Record
from hub.models import Role
from integrations.knowledge import entries_tombstone, entries_upsert
from integrations.models import Integration, KnowledgeEntry

pytestmark = pytest.mark.django_db
URL = "/api/v1/knowledge/entries"
FIELDS = {
    "id",
    "integration_id",
    "integration_name",
    "integration_type",
    "external_id",
    "title",
    "content",
    "html",
    "url",
    "author",
    "language",
    "metadata",
    "source_created_at",
    "source_updated_at",
    "deleted_at",
    "created_at",
    "updated_at",
}


def integration_with(org, n: int, name="Notes") -> Integration:
    integration = Integration.objects.create(organisation=org, type="notes", name=name)
    records = [Record(f"{name}-{i}", f"{name} title {i}", f"content {i}") for i in range(n)]
    entries_upsert(integration=integration, records=records)
    return integration


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MANAGER, Role.ADMIN])
def test_every_role_lists_entries_with_exact_fields(org, make_member, client_for, role):
    integration_with(org, 2)
    body = client_for(make_member(org, role)).get(URL).json()
    assert set(body) == {"results", "next", "previous"}
    assert len(body["results"]) == 2 and set(body["results"][0]) == FIELDS


def test_no_token_is_401():
    assert APIClient().get(URL).status_code == 401


def test_another_orgs_entries_never_show(make_org, make_member, client_for):
    mine, theirs = make_org("Mine"), make_org("Theirs")
    integration_with(mine, 1, name="Mine")
    their_integration = integration_with(theirs, 3, name="Theirs")
    client = client_for(make_member(mine, Role.MEMBER))
    assert [e["title"] for e in client.get(URL).json()["results"]] == ["Mine title 0"]
    their_entry = KnowledgeEntry.objects.filter(integration=their_integration).first()
    detail = client.get(f"{URL}/{their_entry.id}")
    assert detail.status_code == 404 and detail.json()["error"]["code"] == "NOT_FOUND"
    assert client.get(URL, {"integration": str(their_integration.id)}).status_code == 404


def test_filter_by_integration_and_search(org, make_member, client_for):
    alpha = integration_with(org, 3, name="Alpha")
    integration_with(org, 3, name="Beta")
    client = client_for(make_member(org, Role.MEMBER))
    only_alpha = client.get(URL, {"integration": str(alpha.id)}).json()["results"]
    assert {e["integration_id"] for e in only_alpha} == {str(alpha.id)} and len(only_alpha) == 3
    found = client.get(URL, {"q": "BETA TITLE 2"}).json()["results"]
    assert [e["external_id"] for e in found] == ["Beta-2"]
    assert client.get(URL, {"q": "content 1"}).json()["results"].__len__() == 2


def test_tombstones_are_hidden_unless_asked_for(org, make_member, client_for):
    integration = integration_with(org, 3)
    entries_tombstone(integration=integration, deletions=[Deletion("Notes-1")])
    client = client_for(make_member(org, Role.MEMBER))
    assert len(client.get(URL).json()["results"]) == 2
    everything = client.get(URL, {"include_deleted": "true"}).json()["results"]
    assert len(everything) == 3
    assert [e["external_id"] for e in everything if e["deleted_at"]] == ["Notes-1"]


def test_cursor_pagination_walks_every_entry_once(org, make_member, client_for):
    integration_with(org, 120)
    client = client_for(make_member(org, Role.MEMBER))
    seen, url, pages = [], f"{URL}?page_size=50", 0
    while url:
        body = client.get(url).json()
        seen += [e["id"] for e in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) == 120


def test_detail_returns_one_entry(org, make_member, client_for):
    integration_with(org, 1)
    entry = KnowledgeEntry.objects.get()
    body = client_for(make_member(org, Role.MEMBER)).get(f"{URL}/{entry.id}").json()
    assert body["id"] == str(entry.id) and body["content"] == "content 0"


def test_invalid_integration_param_is_a_validation_error(org, make_member, client_for):
    response = client_for(make_member(org, Role.MEMBER)).get(URL, {"integration": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "integration" in response.json()["error"]["details"]


def test_schema_documents_the_knowledge_endpoints(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {"/api/v1/knowledge/entries", "/api/v1/knowledge/entries/{entry_id}"} <= set(paths)


def test_entries_name_their_source_integration_for_readers_who_cannot_list_integrations(
    org, make_member, client_for, django_assert_max_num_queries
):
    integration_with(org, 3, name="Wiki")
    member = client_for(make_member(org, Role.MEMBER))
    with django_assert_max_num_queries(6):  # the source comes with the entries, not one query per entry
        body = member.get(URL).json()
    assert {(e["integration_name"], e["integration_type"]) for e in body["results"]} == {("Wiki", "notes")}
