"""Hostile JSON bodies on every endpoint: nested deep, NaN, lone surrogates. A 400 in the envelope, never a 500."""

from __future__ import annotations

import pytest

from hub.parsers import MAX_JSON_DEPTH, json_depth_exceeds, loads_api_json
from integrations.models import Integration
from tests.fakes.confluence_fixtures import seed_spaces

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
DEPTHS = [MAX_JSON_DEPTH + 1, 500, 990, 2000, 5000, 100_000]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def wiki(admin_client, atlassian, basic_config) -> str:
    seed_spaces(atlassian, {"PROJ": 1})
    response = admin_client.post(BASE, {"type": "confluence", "name": "Wiki", "config": basic_config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


# (method, path, body around the nested value: `%s` is where it goes)
ENDPOINTS = [
    ("post", "/api/v1/auth/token", '{"email": "a@example.com", "password": %s}'),
    ("post", "/api/v1/auth/token/refresh", '{"refresh": %s}'),
    ("post", BASE, '{"type": "webhook", "name": "Deep", "config": {"x": %s}}'),
    ("post", "/api/v1/integrations", '{"type": "webhook", "name": %s}'),
    ("patch", BASE + "{id}", '{"name": "n", "config": {"site_url": %s}}'),
    ("post", BASE + "{id}/actions/get_page", '{"pageId": %s}'),
    ("post", BASE + "{id}/actions/create_page", '{"space_key": "PROJ", "title": "t", "content": %s}'),
    ("post", BASE + "{id}/actions/get_spaces", "%s"),
]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize(("method", "path", "template"), ENDPOINTS)
def test_a_deeply_nested_body_is_a_400_on_every_endpoint(admin_client, wiki, method, path, template, depth):
    body = template % nested(depth)
    response = getattr(admin_client, method)(path.format(id=wiki), body, content_type="application/json")
    assert response.status_code == 400, response.content[:500]
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "deeper" in response.json()["error"]["message"]


@pytest.mark.parametrize("depth", [2, MAX_JSON_DEPTH - 2])
def test_a_body_within_the_depth_bound_reaches_validation(admin_client, wiki, depth):
    created = admin_client.post(
        BASE,
        '{"type": "webhook", "name": "Fine", "config": {"x": DEEP}}'.replace("DEEP", nested(depth)),
        content_type="application/json",
    )
    assert created.status_code == 400 and created.json()["error"]["details"] == {
        "config.x": ["Unknown field for this connector."]
    }
    patched = admin_client.patch(
        BASE + wiki, '{"config": {"spaces": DEEP}}'.replace("DEEP", nested(depth)), content_type="application/json"
    )
    assert patched.status_code == 400 and "config.spaces" in patched.json()["error"]["details"]


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "webhook", "name": "\\udfff"}',
        '{"type": "webhook", "name": "ok", "config": {"\\ud800": 1}}',
        '{"type": "webhook", "name": NaN}',
        '{"type": "webhook", "name": "x", "config": {"n": Infinity}}',
    ],
)
def test_a_lone_surrogate_or_nan_anywhere_in_a_body_is_a_400(admin_client, body):
    response = admin_client.post(BASE, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not Integration.objects.exists()


def test_a_lone_surrogate_in_a_patch_is_a_400_and_changes_nothing(admin_client, wiki):
    response = admin_client.patch(BASE + wiki, '{"name": "a\\udc00b"}', content_type="application/json")
    assert response.status_code == 400, response.content
    assert Integration.objects.get(pk=wiki).name == "Wiki"


def test_a_surrogate_pair_is_a_valid_character_and_is_kept(admin_client):
    response = admin_client.post(
        BASE, '{"type": "webhook", "name": "ok \\ud83d\\ude00"}', content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "ok \U0001f600"


def test_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    assert json_depth_exceeds(deep, 64) and not json_depth_exceeds([[{"a": [1]}]], 4)
    assert loads_api_json(b'{"a": [[{"b": 1}]]}') == {"a": [[{"b": 1}]]}


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deeply_nested_signed_webhook_is_a_400(admin_client, depth):
    """The receive endpoint parses its own body (after the signature): deep metadata is refused when stored."""
    from webhooks.signing import signature_for

    created = admin_client.post(BASE, {"type": "webhook", "name": "Hook"}, format="json")
    hook = created.json()
    raw = '{"title": "t", "content": "c", "extra": DEEP}'.replace("DEEP", nested(depth)).encode()
    response = admin_client.generic(
        "POST",
        f"{BASE}webhook/{hook['id']}/receive",
        raw,
        content_type="application/json",
        headers={"X-Knora-Signature": signature_for(hook["signing_secret"], raw)},
    )
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
