"""Operator surfaces: OpenAPI schema and docs, and the Django admin without secrets."""

import pytest
from django.test import Client

from hub.models import User
from integrations.models import Integration

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_auth_endpoints():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/auth/token", "/api/v1/auth/token/refresh", "/api/v1/auth/me"} <= set(schema["paths"])


def test_swagger_ui_is_served_from_local_assets():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr.net" not in response.content


def test_admin_shows_integrations_without_their_secrets(org):
    operator = User.objects.create_superuser("ops@example.com", "ops-pass-123")
    integration = Integration(organisation=org, type="webhook", name="Hook")
    integration.config = {"workspace_token": "xoxb-admin-must-not-see"}
    integration.save()
    client = Client()
    client.force_login(operator)
    for url in (
        "/admin/integrations/integration/",
        f"/admin/integrations/integration/{integration.pk}/change/",
        "/admin/hub/organisation/",
        f"/admin/hub/organisation/{org.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"xoxb-admin-must-not-see" not in response.content
        assert integration.config_sealed.encode() not in response.content


def test_admin_lists_sync_jobs_and_entries(org):
    from integrations.models import KnowledgeEntry, SyncJob

    operator = User.objects.create_superuser("ops2@example.com", "ops-pass-123")
    integration = Integration.objects.create(organisation=org, type="webhook", name="Hook")
    SyncJob.objects.create(organisation=org, integration=integration, status="completed")
    KnowledgeEntry.objects.create(organisation=org, integration=integration, external_id="e", title="Visible")
    client = Client()
    client.force_login(operator)
    assert client.get("/admin/integrations/syncjob/").status_code == 200
    entries_page = client.get("/admin/integrations/knowledgeentry/")
    assert entries_page.status_code == 200 and b"Visible" in entries_page.content
