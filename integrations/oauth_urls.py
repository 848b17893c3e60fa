"""OAuth popup routes under /api/v1/integrations/oauth/."""

from django.urls import path

from integrations.oauth_apis import OAuthStartApi, oauth_callback_view

urlpatterns = [
    path("start", OAuthStartApi.as_view(), name="oauth-start"),
    path("callback", oauth_callback_view, name="oauth-callback"),
]
