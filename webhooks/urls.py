"""Webhook receive route (filled in by the webhooks module)."""

urlpatterns: list = []
