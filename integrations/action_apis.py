"""Thin views of connector actions: GET /<id>/actions and POST /<id>/actions/<action>."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.permissions import IsManager
from hub.schema import errors
from integrations import actions, selectors
from integrations.serializers import ActionListOutput, ActionRunOutput

TAGS = ["integrations"]


class IntegrationActionListApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: ActionListOutput, **errors(400)}, tags=TAGS)
    def get(self, request: Request, integration_id) -> Response:
        integration = selectors.integration_get(organisation=request.auth.organisation, integration_id=integration_id)
        listed = actions.action_list(integration=integration)
        return Response({"integration_id": str(integration.id), "actions": listed, "total": len(listed)})


class IntegrationActionRunApi(APIView):
    # Manager at least; write actions need admin, checked once the action is known.
    permission_classes = [IsManager]

    # A write action also needs an active subscription (402); upstream refusals keep their status.
    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={200: ActionRunOutput, **errors(402, 409, 429, 502)}, tags=TAGS
    )
    def post(self, request: Request, integration_id, action: str) -> Response:
        integration = selectors.integration_get(organisation=request.auth.organisation, integration_id=integration_id)
        spec = actions.action_spec_get(integration=integration, name=action)
        actions.action_permission_check(membership=request.auth.membership, spec=spec)
        result = actions.action_run(integration=integration, spec=spec, payload=request.data)
        return Response({"action": spec.name, "integration_id": str(integration.id), "result": result})
