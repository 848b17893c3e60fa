"""JWT authentication bound to one organisation; the role is re-read from the membership each request."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from hub.errors import ApiError, ErrorCode
from hub.models import Membership, Organisation, Role, User

ORG_CLAIM = "org_id"


@dataclass(frozen=True)
class TenantAuth:
    """What `request.auth` holds: the token, the organisation it names and the live membership."""

    token: Token
    organisation: Organisation
    membership: Membership

    @property
    def role(self) -> Role:
        return Role(self.membership.role)


class OrgJWTAuthentication(JWTAuthentication):
    """Bearer JWT whose `org_id` claim must name an existing organisation the user still belongs to."""

    def authenticate(self, request: Request) -> tuple[User, TenantAuth] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        org_id = token.get(ORG_CLAIM)
        if not org_id:
            raise InvalidToken("Token carries no organisation.")
        organisation = Organisation.objects.select_related("plan").filter(id=org_id).first()
        if organisation is None:
            raise ApiError(ErrorCode.ORG_NOT_FOUND)
        membership = Membership.objects.filter(user=user, organisation=organisation).first()
        if membership is None:
            raise ApiError(ErrorCode.INSUFFICIENT_ROLE, "You are no longer a member of this organisation.")
        return user, TenantAuth(token=token, organisation=organisation, membership=membership)


def tokens_for(membership: Membership) -> dict[str, str]:
    """A refresh and access token pair for the membership's user, bound to its organisation."""
    refresh = RefreshToken.for_user(membership.user)
    refresh[ORG_CLAIM] = str(membership.organisation_id)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
