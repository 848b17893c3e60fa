"""Knora's Integrations API under /api/v1/integrations, paths exactly as its document writes them."""

from django.urls import include, path

from integrations import action_apis, apis
from webhooks import apis as webhook_apis

app_name = "integrations"

urlpatterns = [
    path("connectors", apis.ConnectorListApi.as_view(), name="connectors"),
    path("", apis.IntegrationListCreateApi.as_view(), name="list"),
    path("oauth/", include("integrations.oauth_urls")),
    path("webhook/", include("webhooks.urls")),
    path("<uuid:integration_id>", apis.IntegrationDetailApi.as_view(), name="detail"),
    path("<uuid:integration_id>/health", apis.IntegrationHealthApi.as_view(), name="health"),
    path(
        "<uuid:integration_id>/connection-health",
        apis.IntegrationConnectionHealthApi.as_view(),
        name="connection-health",
    ),
    path("<uuid:integration_id>/sync", apis.IntegrationSyncApi.as_view(), name="sync"),
    path("<uuid:integration_id>/sync/cancel", apis.IntegrationSyncCancelApi.as_view(), name="sync-cancel"),
    path("<uuid:integration_id>/history", apis.IntegrationHistoryApi.as_view(), name="history"),
    path(
        "<uuid:integration_id>/history/<uuid:job_id>",
        apis.IntegrationJobDetailApi.as_view(),
        name="job-detail",
    ),
    path("<uuid:integration_id>/rotate-secret", webhook_apis.WebhookSecretRotateApi.as_view(), name="rotate-secret"),
    path("<uuid:integration_id>/preview", apis.IntegrationPreviewApi.as_view(), name="preview"),
    path("<uuid:integration_id>/actions", action_apis.IntegrationActionListApi.as_view(), name="actions"),
    path(
        "<uuid:integration_id>/actions/<str:action>",
        action_apis.IntegrationActionRunApi.as_view(),
        name="action-run",
    ),
]
