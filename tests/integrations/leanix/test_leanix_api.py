"""Creating a LeanIX integration: bad config named field by field, the token checked live, health and preview."""

from __future__ import annotations

import pytest

from integrations.models import Integration

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


def post(client, config: dict):
    return client.post(BASE, {"type": "leanix", "name": "LeanIX", "config": config}, format="json")


def test_bad_config_is_a_400_naming_each_field(admin_client, leanix):
    answer = post(admin_client, {"host": "acme.leanix.net/path?x=1", "direction": "sideways", "run_size": 50_001,
                                 "content_type": "9 bad", "manage_processors": "yes", "connector_id": "x" * 501,
                                 "colour": "blue"})  # fmt: skip
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["details"]) == {
        f"config.{key}" for key in ("host", "api_token", "direction", "run_size", "content_type",
                                    "manage_processors", "connector_id", "colour")
    }  # fmt: skip
    assert not Integration.objects.exists() and leanix.workspace.token_requests == 0


@pytest.mark.parametrize(
    ("host", "error"),
    [("http://acme.leanix.net", None), ("ftp://acme.leanix.net", "http(s)"), ("acme leanix", "spaces")],
)
def test_hosts_a_domain_or_a_url_and_http_only_where_private_upstreams_are_allowed(host, error, settings):
    from connectors.base import ConfigInvalid
    from connectors.leanix import LeanIXConnector

    config = {"host": host, "api_token": "t", "direction": "both"}
    if error is None:
        assert LeanIXConnector.validate_config(config)["host"] == "http://acme.leanix.net"
        settings.ALLOW_PRIVATE_UPSTREAMS = False
        with pytest.raises(ConfigInvalid) as refused:
            LeanIXConnector.validate_config(config)
        assert "https://" in refused.value.field_errors["host"][0]
        assert LeanIXConnector.validate_config({**config, "host": "acme.leanix.net"})["host"] == (
            "https://acme.leanix.net"
        )
    else:
        with pytest.raises(ConfigInvalid) as refused:
            LeanIXConnector.validate_config(config)
        assert error in refused.value.field_errors["host"][0]


def test_the_first_post_checks_the_token_live_and_refuses_a_wrong_one(admin_client, leanix):
    refused = post(admin_client, leanix.config(api_token="not-the-token"))
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"config": ["LeanIX refused the API token (401 Unauthorized)."]}
    created = post(admin_client, leanix.config())
    assert created.status_code == 201, created.content
    assert leanix.workspace.api_token not in created.content.decode()
    integration_id = created.json()["id"]
    health = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert health["healthy"] and leanix.workspace.token_requests == 2
    leanix.workspace.api_token = "rotated"
    assert not admin_client.get(f"{BASE}{integration_id}/connection-health").json()["healthy"]


def test_preview_from_leanix_says_a_run_is_needed(admin_client, leanix):
    integration_id = post(admin_client, leanix.config()).json()["id"]
    preview = admin_client.get(f"{BASE}{integration_id}/preview").json()
    assert preview["estimated_entries"] is None and "a sync is needed to know" in preview["summary"]
    assert not leanix.workspace.runs  # a preview starts no run


def test_preview_to_leanix_counts_the_entries_the_next_run_would_send(admin_client, leanix):
    from connectors.base import Record
    from integrations.knowledge import entries_upsert

    source = admin_client.post(BASE, {"type": "webhook", "name": "Docs"}, format="json").json()["id"]
    records = [Record(external_id=f"d{n}", title=f"Doc {n}", content="text") for n in range(4)]
    entries_upsert(integration=Integration.objects.get(pk=source), records=records)
    integration_id = post(admin_client, leanix.config(direction="to_leanix")).json()["id"]
    preview = admin_client.get(f"{BASE}{integration_id}/preview").json()
    assert (preview["estimated_entries"], preview["items"]) == (4, [{"label": "Docs", "count": 4}])
    assert not leanix.workspace.runs
