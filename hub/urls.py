"""Root URLs: auth, health probes, OpenAPI, admin, the apps' APIs, and the web console at /."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from hub import health
from hub.api import MeApi, TokenObtainApi, TokenRefreshApi
from integrations.apis import IntegrationListCreateNoSlashApi

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/auth/token", TokenObtainApi.as_view(), name="auth-token"),
    path("api/v1/auth/token/refresh", TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("api/v1/auth/me", MeApi.as_view(), name="auth-me"),
    path("api/v1/integrations/", include("integrations.urls")),
    # Knora's document writes `GET /` after the base path; some clients drop the slash.
    path("api/v1/integrations", IntegrationListCreateNoSlashApi.as_view(), name="integrations-root"),
    path("api/v1/knowledge/", include("integrations.knowledge.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    path("", include("console.urls")),
]

handler404 = "hub.errors.handler404"
handler500 = "hub.errors.handler500"
