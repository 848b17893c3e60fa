"""`POST /api/v1/integrations/<id>/rotate-secret`: a new signing secret, shown once, for an integration
whose connector verifies its signed callbacks with one (the webhook connector's do)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.permissions import IsAdmin, SubscriptionActive
from hub.schema import errors
from integrations.serializers import IntegrationCreatedOutput, IntegrationOutput
from integrations.services import webhook_url
from webhooks import services


class WebhookSecretRotateApi(APIView):
    """Admin, active subscription (like every write). Another organisation's integration is 404;
    one whose connector has no signed callbacks verified with a signing secret is 400
    VALIDATION_ERROR. The body is the 201 of `POST /` for a webhook: the integration's fields
    plus `signing_secret` and `webhook_url`."""

    permission_classes = [IsAdmin, SubscriptionActive]

    # 400: the integration's connector verifies no signing secret, so it has none to rotate.
    @extend_schema(request=None, responses={200: IntegrationCreatedOutput, **errors(400)}, tags=["integrations"])
    def post(self, request: Request, integration_id) -> Response:
        integration, secret = services.webhook_secret_rotate(
            organisation=request.auth.organisation, integration_id=integration_id
        )
        body = {
            **IntegrationOutput(integration).data,
            "signing_secret": secret,
            "webhook_url": webhook_url(integration),
        }
        return Response(body)
