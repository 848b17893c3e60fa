"""Console page URLs; the Django admin stays at /admin/ and the API under /api/."""

from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("login", views.login, name="login"),
    path("integrations/new", views.integration_new, name="integration-new"),
    path("integrations/<uuid:integration_id>", views.integration_detail, name="integration-detail"),
    path("knowledge", views.knowledge, name="knowledge"),
]
