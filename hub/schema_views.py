"""OpenAPI documentation of the plain Django views: the webhook receiver and the OAuth callback.

These classes are never routed. `hub.schema.PlainViewEnumerator` finds the real view in the URL
conf, takes its path from there and describes it with the class registered for it below, so a
moved URL moves in the schema too. Each declares every status the view can answer.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from hub.schema import ErrorEnvelope, errors

WEBHOOK_HEADERS = [
    OpenApiParameter(
        "X-Knora-Signature",
        str,
        OpenApiParameter.HEADER,
        description="Knora's scheme: `sha256=<hex HMAC-SHA256 of the raw body under the signing secret>`. "
        "Required unless the Standard Webhooks headers are sent.",
    ),
    OpenApiParameter(
        "webhook-id",
        str,
        OpenApiParameter.HEADER,
        description="Standard Webhooks: the delivery's id, signed; a retry with the same id gets the first answer.",
    ),
    OpenApiParameter(
        "webhook-timestamp",
        str,
        OpenApiParameter.HEADER,
        description="Standard Webhooks: Unix seconds; more than 300 s away from now is 403.",
    ),
    OpenApiParameter(
        "webhook-signature",
        str,
        OpenApiParameter.HEADER,
        description="Standard Webhooks: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, several separated by spaces.",
    ),
    OpenApiParameter(
        "Idempotency-Key",
        str,
        OpenApiParameter.HEADER,
        description="Knora's delivery key, at most 255 characters.",
    ),
]


class WebhookPayload(serializers.Serializer):
    """Any JSON object; the first non-empty of text, body, content becomes the entry."""

    text = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    content = serializers.CharField(required=False)
    title = serializers.CharField(required=False)
    url = serializers.CharField(required=False)
    author = serializers.CharField(required=False)
    timestamp = serializers.CharField(required=False)


class WebhookReceiptOutput(serializers.Serializer):
    integration_id = serializers.UUIDField()
    accepted = serializers.BooleanField()
    entry_id = serializers.UUIDField(allow_null=True)
    message = serializers.CharField()


class _PlainView(APIView):
    """Not DRF at run time: no JWT, no throttles or content negotiation of DRF's."""

    schema_plain_view = True
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class WebhookReceiveDoc(_PlainView):
    @extend_schema(
        operation_id="v1_integrations_webhook_receive",
        summary="Receive a signed webhook payload",
        description="No JWT: the signature authenticates. Checks run in this order: integration (404), "
        "size (413), signature present (400) and matching (403), Content-Type (415), JSON object (400).",
        parameters=WEBHOOK_HEADERS,
        request={"application/json": WebhookPayload},
        responses={
            202: OpenApiResponse(WebhookReceiptOutput, description="Accepted: an entry was written."),
            200: OpenApiResponse(WebhookReceiptOutput, description="Verified, but the payload had no text."),
            400: OpenApiResponse(
                ErrorEnvelope,
                description="No or a malformed signature header, not a JSON object, "
                "a lone surrogate or NUL, or a delivery key over 255 characters (VALIDATION_ERROR).",
            ),
            403: OpenApiResponse(
                ErrorEnvelope,
                description="The signature does not match, or the timestamp is more "
                "than 300 s away, or a body-only signature where timestamps are required (FORBIDDEN).",
            ),
            404: OpenApiResponse(ErrorEnvelope, description="No webhook integration has this id (NOT_FOUND)."),
            **errors(413, 415, 429),
            503: OpenApiResponse(
                ErrorEnvelope,
                description="The database did not answer; nothing was stored, retry after Retry-After "
                "seconds (SERVICE_UNAVAILABLE).",
            ),
        },
        tags=["integrations"],
    )
    def post(self, request, integration_id):  # pragma: no cover - documentation only
        raise NotImplementedError


class OAuthCallbackDoc(_PlainView):
    @extend_schema(
        operation_id="v1_integrations_oauth_callback",
        summary="The OAuth provider's redirect back",
        description="No JWT: the sealed state authenticates. Always a 200 HTML page; it posts "
        "`knora:oauth:success` (with `integrationId`) or `knora:oauth:error` to FRONTEND_ORIGIN.",
        parameters=[
            OpenApiParameter("state", str, description="The sealed state from /oauth/start."),
            OpenApiParameter("code", str, description="The provider's authorization code."),
            OpenApiParameter("error", str, description="The provider's error, when consent was refused."),
        ],
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="The popup's result page.")},
        tags=["integrations"],
    )
    def get(self, request):  # pragma: no cover - documentation only
        raise NotImplementedError


# The real view (module.qualname) -> the class that documents it.
DOCUMENTED_VIEWS: dict[str, type[_PlainView]] = {
    "webhooks.views.webhook_receive": WebhookReceiveDoc,
    "integrations.oauth_apis.oauth_callback_view": OAuthCallbackDoc,
}


def documentation_view(callback) -> type[_PlainView] | None:
    return DOCUMENTED_VIEWS.get(f"{callback.__module__}.{getattr(callback, '__qualname__', '')}")
