"""connection-health and preview of a Haiilo integration, through the API against the fake."""

from __future__ import annotations

import pytest

from integrations.models import Integration, KnowledgeEntry
from tests.connectors.haiilo.conftest import BASE, create_integration

pytestmark = pytest.mark.django_db


def test_connection_health_is_a_token_request_and_one_event_request_of_page_size_one(admin_client, haiilo):
    integration_id = create_integration(admin_client, haiilo, entity_types="blog-article,page")
    body = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert body["healthy"] is True and "'blog-article'" in body["message"]
    assert haiilo.tenant.token_requests == 1
    assert haiilo.api_requests() == ["/web/content-connector/events/blog-article?startId=0&pageSize=1"]


def test_connection_health_reports_refused_client_credentials(admin_client, haiilo):
    integration_id = create_integration(admin_client, haiilo)
    haiilo.tenant.client_secret = "rotated"
    body = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert body["healthy"] is False and body["status"] == "error"
    assert "401" in body["message"] and "client ID and secret" in body["message"]
    assert Integration.objects.get(id=integration_id).status == "error"


def test_connection_health_names_an_unreadable_entity_type(admin_client, haiilo):
    integration_id = create_integration(admin_client, haiilo, entity_types="file")
    haiilo.tenant.forbidden_types = {"file"}
    body = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert body["healthy"] is False and "'file'" in body["message"] and "HTTP 403" in body["message"]


def test_preview_reports_each_type_reachable_or_not_with_a_count_only_where_known(admin_client, haiilo):
    haiilo.tenant.create("blog-article", title={"en": "Hello"}, status="PUBLISHED")
    haiilo.tenant.forbidden_types = {"file"}
    integration_id = create_integration(admin_client, haiilo, entity_types="blog-article,page,file")
    body = admin_client.get(f"{BASE}{integration_id}/preview").json()
    assert body["connector_type"] == "haiilo"
    assert body["items"] == [
        {"label": "blog-article", "count": None},  # has events; Haiilo gives no totals
        {"label": "page", "count": 0},  # no events at all
        {"label": "file (unreachable: HTTP 403)", "count": None},
    ]
    assert body["estimated_entries"] is None and body["summary"].startswith("2 of 3")
    assert all("pageSize=1" in path for path in haiilo.api_requests())
    assert not KnowledgeEntry.objects.exists()


def test_preview_of_an_empty_tenant_estimates_zero_entries(admin_client, haiilo):
    integration_id = create_integration(admin_client, haiilo, entity_types="page,workspace")
    body = admin_client.get(f"{BASE}{integration_id}/preview").json()
    assert body["estimated_entries"] == 0 and [i["count"] for i in body["items"]] == [0, 0]


def test_preview_with_refused_credentials_is_an_upstream_error(admin_client, haiilo):
    integration_id = create_integration(admin_client, haiilo)
    haiilo.tenant.client_secret = "rotated"
    response = admin_client.get(f"{BASE}{integration_id}/preview")
    assert response.status_code == 502 and response.json()["error"]["code"] == "UPSTREAM_ERROR"
