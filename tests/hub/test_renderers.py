"""Answers that carry upstream text: what UTF-8 cannot encode is cleaned on the way out, never a 500."""

from __future__ import annotations

import pytest

from hub.renderers import CleaningJSONRenderer
from tests.fakes.confluence_fixtures import seed_spaces

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


def test_a_confluence_page_whose_title_holds_a_lone_surrogate_is_answered_cleaned(
    admin_client, atlassian, basic_config
):
    seed_spaces(atlassian, {"PROJ": 0})
    page = atlassian.model.add_page("PROJ", "Broken \udfff title", "<p>body \ud800</p>")
    created = admin_client.post(BASE, {"type": "confluence", "name": "Wiki", "config": basic_config}, format="json")
    assert created.status_code == 201, created.content
    response = admin_client.post(
        f"{BASE}{created.json()['id']}/actions/get_page", {"pageId": str(page.id)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["title"] == "Broken \ufffd title"


def test_the_renderer_cleans_only_when_it_must():
    renderer = CleaningJSONRenderer()
    assert renderer.render({"a": "é"}) == '{"a":"é"}'.encode()
    assert renderer.render({"\udfff": "x\ud800", "n": float("nan")}) == '{"\ufffd":"x\ufffd","n":null}'.encode()
