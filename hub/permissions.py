"""Permission classes: a minimum role each, and an active subscription."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from hub.auth import TenantAuth
from hub.errors import ApiError, ErrorCode
from hub.models import Role


class _MinimumRole(BasePermission):
    minimum: Role
    code = ErrorCode.INSUFFICIENT_ROLE.code

    @property
    def message(self) -> str:
        return f"This action requires the {self.minimum.value} role or higher."

    def has_permission(self, request, view) -> bool:
        auth = request.auth
        return isinstance(auth, TenantAuth) and auth.membership.has_role(self.minimum)


class IsMember(_MinimumRole):
    minimum = Role.MEMBER


class IsManager(_MinimumRole):
    minimum = Role.MANAGER


class IsAdmin(_MinimumRole):
    minimum = Role.ADMIN


class SubscriptionActive(BasePermission):
    """402 SUBSCRIPTION_REQUIRED when the trial has ended or the subscription is inactive."""

    def has_permission(self, request, view) -> bool:
        auth = request.auth
        if isinstance(auth, TenantAuth) and auth.organisation.subscription_required:
            raise ApiError(ErrorCode.SUBSCRIPTION_REQUIRED)
        return True
