"""The six Confluence page actions through GET /<id>/actions and POST /<id>/actions/<action>."""

import pytest

from connectors.confluence.connector import ConfluenceConnector
from hub.models import Role
from integrations.models import Integration
from tests.fakes.confluence_fixtures import seed_spaces

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
SEED_ACTIONS = ["create_page", "get_page", "get_pages", "get_spaces", "update_page", "delete_page"]


@pytest.fixture
def wiki(admin_client, atlassian, basic_config) -> str:
    seed_spaces(atlassian, {"PROJ": 3, "DOCS": 1})
    response = admin_client.post(BASE, {"type": "confluence", "name": "Wiki", "config": basic_config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def run(client, integration_id: str, action: str, payload):
    return client.post(f"{BASE}{integration_id}/actions/{action}", payload, format="json")


def result(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()["result"]


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code and "Traceback" not in str(body)
    return body


def page_titled(atlassian, title: str):
    return next(p for p in atlassian.model.pages.values() if p.current.title == title)


# --- listing --------------------------------------------------------------------------------------


def test_actions_list_the_six_seed_actions_with_their_fields_and_roles(org, make_member, client_for, wiki):
    body = client_for(make_member(org, Role.MANAGER)).get(f"{BASE}{wiki}/actions").json()
    assert [a["name"] for a in body["actions"]] == SEED_ACTIONS and body["total"] == 6
    actions = {a["name"]: a for a in body["actions"]}
    create = {f["key"]: f for f in actions["create_page"]["fields"]}
    assert [k for k, f in create.items() if f["required"]] == ["title", "spaceKey", "body.storage.value"]
    assert [o["value"] for o in create["representation"]["options"]] == ["storage", "wiki"]
    assert [o["value"] for o in create["status"]["options"]] == ["current", "draft"]
    limit = next(f for f in actions["get_pages"]["fields"] if f["key"] == "limit")
    assert [o["value"] for o in limit["options"]] == [10, 25, 50, 100] and limit["default"] == 25
    assert {a["name"]: a["required_role"] for a in body["actions"]} == {
        "create_page": "admin", "get_page": "manager", "get_pages": "manager", "get_spaces": "manager",
        "update_page": "admin", "delete_page": "admin",
    }  # fmt: skip


def test_a_connector_without_actions_answers_a_clear_error(admin_client):
    hook = admin_client.post(BASE, {"type": "webhook", "name": "Hook"}, format="json").json()["id"]
    listed = error(admin_client.get(f"{BASE}{hook}/actions"), 400, "ACTIONS_NOT_SUPPORTED")
    assert "has no actions" in listed["message"]
    error(run(admin_client, hook, "get_spaces", {}), 400, "ACTIONS_NOT_SUPPORTED")


def test_another_organisations_integration_is_a_404(make_org, make_member, client_for, wiki):
    stranger = client_for(make_member(make_org("Other"), Role.ADMIN))
    error(stranger.get(f"{BASE}{wiki}/actions"), 404, "NOT_FOUND")
    error(run(stranger, wiki, "get_spaces", {}), 404, "NOT_FOUND")


def test_an_unknown_action_is_a_404_listing_the_known_ones(admin_client, wiki):
    body = error(run(admin_client, wiki, "archive_everything", {}), 404, "NOT_FOUND")
    assert "create_page" in body["details"]["actions"][0]


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.MEMBER, "get_spaces", False),
        (Role.MANAGER, "get_spaces", True),
        (Role.MANAGER, "create_page", False),
        (Role.MANAGER, "update_page", False),
        (Role.MANAGER, "delete_page", False),
    ],
)
def test_read_actions_need_manager_and_write_actions_admin(org, make_member, client_for, wiki, role, action, allowed):
    response = run(client_for(make_member(org, role)), wiki, action, {})
    if allowed:
        assert response.status_code == 200, response.content
    else:
        error(response, 403, "INSUFFICIENT_ROLE")


def test_write_actions_need_an_active_subscription(org, admin_client, wiki):
    org.subscription_status = "past_due"
    org.save()
    error(run(admin_client, wiki, "delete_page", {"pageId": "1"}), 402, "SUBSCRIPTION_REQUIRED")
    assert result(run(admin_client, wiki, "get_spaces", {}))["size"] == 2


# --- create_page ----------------------------------------------------------------------------------


def test_create_page_resolves_the_space_key_and_returns_the_new_page(admin_client, atlassian, wiki):
    payload = {"title": "Project Documentation", "spaceKey": "PROJ",
               "body": {"storage": {"value": "<p>This is the content of the new page.</p>"}}}  # fmt: skip
    page = result(run(admin_client, wiki, "create_page", payload))
    stored = atlassian.model.pages[page["id"]]
    assert stored.current.body == "<p>This is the content of the new page.</p>" and stored.status == "current"
    assert page["title"] == "Project Documentation" and page["version"]["number"] == 1
    assert page["space"] == {"id": atlassian.model.space_by_key("PROJ").id, "key": "PROJ", "name": "Space PROJ"}
    assert page["url"].startswith(f"{atlassian.site_url}/wiki/spaces/PROJ/pages/{page['id']}") and page["createdAt"]


def test_create_child_page_and_draft_and_wiki_markup(admin_client, atlassian, wiki):
    parent = page_titled(atlassian, "Page PROJ-0")
    child = result(run(admin_client, wiki, "create_page", {
        "title": "Sprint 1 Notes", "spaceKey": "PROJ", "parentId": parent.id, "representation": "storage",
        "status": "current", "body": {"storage": {"value": "<h2>Sprint Goals</h2>"}},
    }))  # fmt: skip
    assert child["parentId"] == parent.id
    draft = result(run(admin_client, wiki, "create_page", {
        "title": "Draft Design Document", "spaceKey": "PROJ", "status": "draft",
        "body": {"storage": {"value": "<p>Work in progress.</p>"}},
    }))  # fmt: skip
    assert draft["status"] == "draft"
    wiki_page = result(run(admin_client, wiki, "create_page", {
        "title": "Wiki markup", "spaceKey": "DOCS", "representation": "wiki", "body": {"storage": {"value": "h1. Hi"}},
    }))  # fmt: skip
    assert atlassian.model.pages[wiki_page["id"]].current.body == "<p>h1. Hi</p>"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"title", "spaceKey", "body.storage.value"}),
        ({"title": "T", "spaceKey": "PROJ", "body": {"storage": {"value": ""}}}, {"body.storage.value"}),
        (
            {"title": "T", "spaceKey": "PROJ", "body": {"storage": {"value": "x"}}, "representation": "html"},
            {"representation"},
        ),
        ({"title": "T", "spaceKey": "PROJ", "body": {"storage": {"value": "x"}}, "status": "archived"}, {"status"}),
        ({"title": "T", "spaceKey": "PROJ", "body": {"storage": {"value": "x"}}, "colour": "red"}, {"colour"}),
        ({"title": "T", "spaceKey": "NOPE", "body": {"storage": {"value": "x"}}}, {"spaceKey"}),
        ({"title": "T", "spaceKey": "PROJ", "body": {"storage": {"value": "x"}}, "parentId": "abc"}, {"pageId"}),
        ({"title": 5, "spaceKey": "PROJ", "body": {"storage": {"value": "x"}}}, {"title"}),
    ],
)
def test_create_page_with_bad_input_is_a_400_naming_the_fields(admin_client, atlassian, wiki, payload, fields):
    before = len(atlassian.model.pages)
    body = error(run(admin_client, wiki, "create_page", payload), 400, "VALIDATION_ERROR")
    assert set(body["details"]) == fields
    assert len(atlassian.model.pages) == before


def test_an_upstream_refusal_comes_back_with_its_status_and_message(admin_client, wiki):
    payload = {"title": "Page PROJ-0", "spaceKey": "PROJ", "body": {"storage": {"value": "<p>dup</p>"}}}
    body = error(run(admin_client, wiki, "create_page", payload), 502, "UPSTREAM_ERROR")
    assert body["details"]["upstream_status"] == 400
    assert body["details"]["upstream_message"] == "A page with this title already exists in this space"


def test_a_body_that_is_not_an_object_is_a_400(admin_client, wiki):
    error(run(admin_client, wiki, "create_page", ["title"]), 400, "VALIDATION_ERROR")


# --- get_page -------------------------------------------------------------------------------------


def test_get_page_by_id_with_expansions_versions_and_status(admin_client, atlassian, wiki):
    page = page_titled(atlassian, "Page PROJ-1")
    atlassian.model.edit_page(page.id, body="<p>v2</p>", title="Renamed")
    plain = result(run(admin_client, wiki, "get_page", {"pageId": page.id}))
    assert plain["title"] == "Renamed" and plain["version"]["number"] == 2 and "body" not in plain
    assert plain["createdAt"] and plain["lastModifiedAt"] and plain["authorId"] == "557058:ann"
    assert plain["space"]["key"] == "PROJ"
    expanded = result(run(admin_client, wiki, "get_page", {"pageId": page.id, "expand": "body.storage,version,space"}))
    assert expanded["body"]["storage"]["value"] == "<p>v2</p>" and expanded["space"]["key"] == "PROJ"
    old = result(run(admin_client, wiki, "get_page", {"pageId": page.id, "version": 1, "expand": "body.storage"}))
    assert old["title"] == "Page PROJ-1" and old["body"]["storage"]["value"].startswith("<p>Body of")
    draft = atlassian.model.add_page("PROJ", "Unpublished", status="draft")
    assert result(run(admin_client, wiki, "get_page", {"pageId": draft.id, "status": "draft"}))["status"] == "draft"


def test_get_page_that_does_not_exist_is_a_404_with_the_upstream_status(admin_client, wiki):
    body = error(run(admin_client, wiki, "get_page", {"pageId": "999999"}), 404, "NOT_FOUND")
    assert body["details"]["upstream_status"] == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "pageId"),
        ({"pageId": "12a"}, "pageId"),
        ({"pageId": "1", "version": "latest"}, "version"),
        ({"pageId": "1", "expand": "body.storage,owners"}, "expand"),
        ({"pageId": "1", "status": "gone"}, "status"),
    ],
)
def test_get_page_with_bad_input_is_a_400(admin_client, wiki, payload, field):
    assert field in error(run(admin_client, wiki, "get_page", payload), 400, "VALIDATION_ERROR")["details"]


# --- get_pages ------------------------------------------------------------------------------------


def test_get_pages_lists_a_space_with_limit_start_title_status_and_content(admin_client, atlassian, wiki):
    for n in range(3, 30):
        atlassian.model.add_page("PROJ", f"Page PROJ-{n}")
    listed = result(run(admin_client, wiki, "get_pages", {"spaceKey": "PROJ", "limit": "10", "start": "10"}))
    assert [p["title"] for p in listed["results"]] == [f"Page PROJ-{n}" for n in range(10, 20)]
    assert (listed["start"], listed["limit"], listed["size"]) == (10, 10, 10)
    assert all("body" not in p and "version" not in p for p in listed["results"])
    assert all(p["space"]["key"] == "PROJ" and p["url"] and p["status"] == "current" for p in listed["results"])
    titled = result(run(admin_client, wiki, "get_pages", {"spaceKey": "PROJ", "title": "Page PROJ-2", "limit": "50"}))
    assert [p["title"] for p in titled["results"]] == ["Page PROJ-2"]
    content = result(run(admin_client, wiki, "get_pages", {"spaceKey": "DOCS", "expand": "body.storage,version",
                                                           "status": "current", "limit": "25"}))  # fmt: skip
    assert content["results"][0]["body"]["storage"]["value"] == "<p>Body of <strong>DOCS-0</strong></p>"
    assert content["results"][0]["version"]["number"] == 1
    atlassian.model.trash_page(page_titled(atlassian, "Page PROJ-0").id)
    trashed = result(run(admin_client, wiki, "get_pages", {"spaceKey": "PROJ", "status": "trashed"}))
    assert [p["title"] for p in trashed["results"]] == ["Page PROJ-0"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"limit": "25"}, "spaceKey"), ({"spaceKey": "PROJ", "limit": "500"}, "limit"),
     ({"spaceKey": "PROJ", "start": "-1"}, "start"), ({"spaceKey": "PROJ", "limit": "ten"}, "limit")],
)  # fmt: skip
def test_get_pages_with_bad_input_is_a_400(admin_client, wiki, payload, field):
    assert field in error(run(admin_client, wiki, "get_pages", payload), 400, "VALIDATION_ERROR")["details"]


def test_get_pages_and_get_page_expand_the_page_tree(admin_client, atlassian, wiki):
    root = page_titled(atlassian, "Page PROJ-0")
    child = atlassian.model.add_page("PROJ", "Child", parent_id=root.id)
    grandchild = atlassian.model.add_page("PROJ", "Grandchild", parent_id=child.id)
    tree = result(run(admin_client, wiki, "get_pages", {"spaceKey": "PROJ", "title": "Child",
                                                        "expand": "ancestors,children,descendants"}))  # fmt: skip
    page = tree["results"][0]
    assert page["ancestors"] == [{"id": root.id, "type": "page"}]
    assert page["children"] == [{"id": grandchild.id, "title": "Grandchild", "type": "page", "status": "current"}]
    top = result(run(admin_client, wiki, "get_page", {"pageId": root.id, "expand": "descendants"}))
    assert [(d["id"], d["depth"]) for d in top["descendants"]] == [(child.id, 1), (grandchild.id, 2)]
    assert top["descendants"][1]["parentId"] == child.id


# --- get_spaces -----------------------------------------------------------------------------------


def test_get_spaces_filters_by_type_and_status_and_expands(admin_client, atlassian, wiki):
    atlassian.model.add_space("~ann", "Ann's space", type="personal")
    atlassian.model.add_space("OLD", "Old", status="archived", description="Retired")
    everything = result(run(admin_client, wiki, "get_spaces", {"limit": "25", "start": "0"}))
    assert [s["key"] for s in everything["results"]] == ["PROJ", "DOCS", "~ann", "OLD"]
    personal = result(run(admin_client, wiki, "get_spaces", {"type": "personal", "limit": "25"}))
    assert [s["key"] for s in personal["results"]] == ["~ann"]
    archived = result(run(admin_client, wiki, "get_spaces", {"status": "archived", "expand": "description,metadata"}))
    assert archived["results"][0]["description"] == "Retired" and archived["results"][0]["metadata"]["createdAt"]
    second = result(run(admin_client, wiki, "get_spaces", {"start": "1", "limit": "10", "expand": "All"}))
    assert [s["key"] for s in second["results"]] == ["DOCS", "~ann", "OLD"]
    assert second["results"][0]["icon"]["path"] and "homepage" in second["results"][0]


def test_get_spaces_with_bad_input_is_a_400(admin_client, wiki):
    body = error(run(admin_client, wiki, "get_spaces", {"type": "team", "expand": "owners"}), 400, "VALIDATION_ERROR")
    assert set(body["details"]) == {"type", "expand"}


# --- update_page ----------------------------------------------------------------------------------


def test_update_page_increments_the_version(admin_client, atlassian, wiki):
    page = page_titled(atlassian, "Page PROJ-0")
    payload = {"pageId": page.id, "title": "Updated Project Documentation", "version": 1,
               "body": {"storage": {"value": "<p>This is the updated content of the page.</p>"}}}  # fmt: skip
    updated = result(run(admin_client, wiki, "update_page", payload))
    assert updated["version"]["number"] == 2 and updated["title"] == "Updated Project Documentation"
    assert updated["version"]["message"] and updated["lastModifiedAt"] and updated["url"]
    assert atlassian.model.pages[page.id].current.body == "<p>This is the updated content of the page.</p>"


def test_update_with_a_stale_version_is_a_409_conflict_not_a_500(admin_client, atlassian, wiki):
    page = page_titled(atlassian, "Page PROJ-0")
    atlassian.model.edit_page(page.id, body="<p>someone else</p>")
    payload = {"pageId": page.id, "title": "Mine", "version": 1, "body": {"storage": {"value": "<p>mine</p>"}}}
    body = error(run(admin_client, wiki, "update_page", payload), 409, "CONFLICT")
    assert body["details"]["upstream_status"] == 409 and "Current version is: 2" in body["message"]
    assert atlassian.model.pages[page.id].current.body == "<p>someone else</p>"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"pageId": "1"}, {"title", "version", "body.storage.value"}),
        ({"pageId": "1", "title": "T", "version": 0, "body": {"storage": {"value": "x"}}}, {"version"}),
        ({"pageId": "1", "title": "T", "version": True, "body": {"storage": {"value": "x"}}}, {"version"}),
    ],
)
def test_update_page_with_bad_input_is_a_400(admin_client, wiki, payload, fields):
    assert set(error(run(admin_client, wiki, "update_page", payload), 400, "VALIDATION_ERROR")["details"]) == fields


def test_update_of_a_missing_page_is_a_404(admin_client, wiki):
    payload = {"pageId": "999999", "title": "T", "version": 1, "body": {"storage": {"value": "x"}}}
    assert error(run(admin_client, wiki, "update_page", payload), 404, "NOT_FOUND")["details"]["upstream_status"] == 404


# --- delete_page ----------------------------------------------------------------------------------


def test_delete_page_moves_it_to_the_trash_and_reports_204(admin_client, atlassian, wiki):
    page = page_titled(atlassian, "Page PROJ-2")
    assert result(run(admin_client, wiki, "delete_page", {"pageId": page.id})) == {
        "deleted": True, "pageId": page.id, "status_code": 204,
    }  # fmt: skip
    assert atlassian.model.pages[page.id].status == "trashed"
    error(run(admin_client, wiki, "delete_page", {"pageId": page.id}), 404, "NOT_FOUND")
    error(run(admin_client, wiki, "delete_page", {}), 400, "VALIDATION_ERROR")


# --- upstream trouble and OAuth -------------------------------------------------------------------


def test_an_upstream_that_stays_unavailable_is_a_502_with_its_status(admin_client, atlassian, wiki, monkeypatch):
    monkeypatch.setattr(ConfluenceConnector, "sleep", staticmethod(lambda seconds: None))  # the retry waits
    atlassian.model.fail("/spaces", 503, times=100)
    body = error(run(admin_client, wiki, "get_spaces", {}), 502, "UPSTREAM_ERROR")
    assert body["details"]["upstream_status"] == 503 and atlassian.model.answer_statuses.count(503) == 5


def test_actions_work_through_the_oauth_gateway(admin_client, org, atlassian):
    seed_spaces(atlassian, {"PROJ": 1})
    integration = Integration(organisation=org, type="confluence", name="Wiki (OAuth)")
    integration.config = {}
    integration.credentials = {**atlassian.model.issue_tokens(), "cloud_id": atlassian.model.cloud_id,
                               "site_url": atlassian.site_url}  # fmt: skip
    integration.save()
    spaces = result(run(admin_client, str(integration.id), "get_spaces", {}))
    assert [s["key"] for s in spaces["results"]] == ["PROJ"]
    gateway = f"/ex/confluence/{atlassian.model.cloud_id}/wiki/api/v2/spaces"
    assert any(path.startswith(gateway) for _, path in atlassian.model.requests)
