"""Webhook receive route, included under /api/v1/integrations/webhook/ in the `integrations` namespace."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("<uuid:integration_id>/receive", views.webhook_receive, name="webhook-receive"),
]
