"""Confluence writes lost on the way back (the fake applies them, then answers 500): retried only as far as
that cannot apply them twice, through POST /<id>/actions/<action> against the fake Atlassian."""

import pytest

from tests.integrations.confluence.test_actions import error, page_titled, result, run, wiki  # noqa: F401

pytestmark = pytest.mark.django_db


def writes(atlassian, method: str) -> list[str]:
    return [path for verb, path in atlassian.model.requests if verb == method]


def test_an_update_applied_then_answered_500_is_a_success_not_a_409(admin_client, atlassian, wiki):  # noqa: F811
    page = page_titled(atlassian, "Page PROJ-0")
    atlassian.model.fail(f"/pages/{page.id}", 500, applied=True)
    payload = {"pageId": page.id, "title": "Once", "version": 1, "body": {"storage": {"value": "<p>once</p>"}}}
    updated = result(run(admin_client, wiki, "update_page", payload))
    assert updated["version"]["number"] == 2 and updated["title"] == "Once"
    # The PUT was not sent again: the page, read back, was at the version it sets.
    assert len(writes(atlassian, "PUT")) == 1
    assert atlassian.model.pages[page.id].current.number == 2


def test_an_update_that_did_not_apply_is_sent_again_after_the_look(admin_client, atlassian, wiki):  # noqa: F811
    page = page_titled(atlassian, "Page PROJ-0")
    atlassian.model.fail(f"/pages/{page.id}", 500)
    payload = {"pageId": page.id, "title": "Twice", "version": 1, "body": {"storage": {"value": "<p>x</p>"}}}
    assert result(run(admin_client, wiki, "update_page", payload))["version"]["number"] == 2
    assert len(writes(atlassian, "PUT")) == 2 and atlassian.model.pages[page.id].current.number == 2


def test_a_delete_applied_then_answered_500_is_a_success_when_the_retry_finds_it_gone(
    admin_client,
    atlassian,
    wiki,  # noqa: F811
):
    page = page_titled(atlassian, "Page PROJ-2")
    atlassian.model.fail(f"/pages/{page.id}", 500, applied=True)
    answer = result(run(admin_client, wiki, "delete_page", {"pageId": page.id}))
    assert answer == {"deleted": True, "pageId": page.id, "status_code": 404}
    assert len(writes(atlassian, "DELETE")) == 2 and atlassian.model.pages[page.id].status == "trashed"


def test_a_create_applied_then_answered_500_is_found_by_its_title_not_made_twice(admin_client, atlassian, wiki):  # noqa: F811
    atlassian.model.fail("/pages", 500, applied=True)
    payload = {"title": "Only one", "spaceKey": "PROJ", "body": {"storage": {"value": "<p>x</p>"}}}
    created = result(run(admin_client, wiki, "create_page", payload))
    assert created["title"] == "Only one" and created["space"]["key"] == "PROJ"
    assert len(writes(atlassian, "POST")) == 1
    made = [p for p in atlassian.model.pages.values() if p.current.title == "Only one"]
    assert len(made) == 1 and created["id"] == made[0].id


def test_a_create_that_did_not_apply_is_sent_again_after_the_look(admin_client, atlassian, wiki):  # noqa: F811
    atlassian.model.fail("/pages", 500)
    payload = {"title": "Second try", "spaceKey": "PROJ", "body": {"storage": {"value": "<p>x</p>"}}}
    assert result(run(admin_client, wiki, "create_page", payload))["title"] == "Second try"
    assert len(writes(atlassian, "POST")) == 2
    assert sum(p.current.title == "Second try" for p in atlassian.model.pages.values()) == 1


def test_a_draft_create_answered_500_is_not_sent_again(admin_client, atlassian, wiki):  # noqa: F811
    # A draft's title need not be unique: nothing to look a lost draft up by.
    atlassian.model.fail("/pages", 500, applied=True)
    payload = {"title": "Draft", "spaceKey": "PROJ", "status": "draft", "body": {"storage": {"value": "<p>x</p>"}}}
    body = error(run(admin_client, wiki, "create_page", payload), 502, "UPSTREAM_ERROR")
    assert "Confluence: POST " in body["message"] and "returned 500" in body["message"]
    assert len(writes(atlassian, "POST")) == 1
