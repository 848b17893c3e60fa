"""Auth endpoints: log in for one organisation, refresh the access token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.auth import tokens_for, tokens_refreshed
from hub.permissions import IsMember
from hub.schema import errors
from hub.services import login_membership
from hub.throttles import LoginEmailThrottle, LoginIpThrottle


class TokenInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False)
    org_id = serializers.UUIDField(required=False, allow_null=True)


class TokenOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    org_id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=["member", "manager", "admin"])


class TokenObtainApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginIpThrottle, LoginEmailThrottle]

    # 403: not a member of the org_id given (INSUFFICIENT_ROLE, ORG_NOT_FOUND); 429: the login throttles.
    @extend_schema(request=TokenInput, responses={200: TokenOutput, **errors(401, 403, 429)}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = login_membership(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            org_id=data.validated_data.get("org_id"),
        )
        body = {
            **tokens_for(membership),
            "org_id": str(membership.organisation_id),
            "role": membership.role,
        }
        return Response(TokenOutput(body).data)


class TokenRefreshInput(serializers.Serializer):
    refresh = serializers.CharField()


class TokenRefreshOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshApi(APIView):
    """`{"refresh"}` → a new pair for the same organisation; the refresh token sent stops working."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenRefreshInput, responses={200: TokenRefreshOutput, **errors(401)}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = TokenRefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(TokenRefreshOutput(tokens_refreshed(data.validated_data["refresh"])).data)


class MeOutput(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.EmailField()
    org_id = serializers.UUIDField()
    org_name = serializers.CharField()
    role = serializers.CharField()
    plan = serializers.DictField()
    subscription_status = serializers.CharField()
    subscription_required = serializers.BooleanField()


class MeApi(APIView):
    """Who the token belongs to, in which organisation and with which role (read live)."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: MeOutput}, tags=["auth"])
    def get(self, request: Request) -> Response:
        organisation = request.auth.organisation
        plan = organisation.plan
        body = {
            "user_id": request.user.id,
            "email": request.user.email,
            "org_id": organisation.id,
            "org_name": organisation.name,
            "role": request.auth.role.value,
            "plan": {"code": plan.code, "name": plan.name, "max_integrations": plan.max_integrations},
            "subscription_status": organisation.subscription_status,
            "subscription_required": organisation.subscription_required,
        }
        return Response(MeOutput(body).data)
