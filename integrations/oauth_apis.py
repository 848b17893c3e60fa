"""OAuth popup views: start (JSON, admin) and the provider's callback (HTML that posts to the opener)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.permissions import IsAdmin, SubscriptionActive
from hub.schema import errors
from integrations.oauth import OAuthFlowError, oauth_callback, oauth_start


class OAuthStartOutput(serializers.Serializer):
    auth_url = serializers.URLField()
    connector = serializers.CharField()


class OAuthStartApi(APIView):
    permission_classes = [IsAdmin, SubscriptionActive]

    @extend_schema(
        parameters=[
            OpenApiParameter("connector", str, required=True),
            OpenApiParameter("org_id", str, required=True),
            OpenApiParameter("integration_id", str),
        ],
        responses={200: OAuthStartOutput, **errors(500)},  # 500 OAUTH_CONFIG_ERROR: no client id/secret
        tags=["integrations"],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        auth_url = oauth_start(
            auth=request.auth,
            connector_type=params.get("connector"),
            org_id=params.get("org_id"),
            integration_id=params.get("integration_id"),
        )
        return Response({"auth_url": auth_url, "connector": params["connector"]})


def oauth_callback_view(request: HttpRequest) -> HttpResponse:
    """No JWT: the sealed state is the credential. Always a 200 page, success or error."""
    try:
        success = oauth_callback(
            state_token=request.GET.get("state"), code=request.GET.get("code"), error=request.GET.get("error")
        )
        message = {
            "type": "knora:oauth:success",
            "connector": success.connector,
            "account": success.account,
            "integrationId": str(success.integration_id),
        }
    except OAuthFlowError as exc:
        message = {"type": "knora:oauth:error", "connector": exc.connector, "error": exc.message}
    response = render(
        request, "oauth/popup_result.html", {"message": message, "target_origin": settings.FRONTEND_ORIGIN}
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    # Django's default COOP (same-origin) would cut the popup off from its opener after the provider's
    # cross-origin pages, leaving `window.opener` null and the message unsent.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response
