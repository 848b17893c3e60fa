"""JWT authentication bound to one organisation; the role is re-read from the membership each request."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from hub.errors import ApiError, ErrorCode
from hub.models import Membership, Organisation, Role, User

ORG_CLAIM = "org_id"
# The membership a pair was issued for: a member removed and added again gets no old token back.
MEMBERSHIP_CLAIM = "membership_id"


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
    refresh[MEMBERSHIP_CLAIM] = membership.pk
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def tokens_refreshed(refresh_text: str) -> dict[str, str]:
    """A new pair for a refresh token, which then stops working (of two parallel uses, one wins).

    Refused (401) when the token is invalid, expired or used, its user is gone or inactive, the
    password changed since it was issued, or the membership it was issued for was removed.
    """
    try:
        refresh = RefreshToken(refresh_text)  # signature, expiry, type and the blacklist
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    membership = _refresh_membership(refresh)
    _, first_use = refresh.blacklist()
    if not first_use:
        raise InvalidToken("Token is blacklisted")
    return tokens_for(membership)


def _refresh_membership(refresh: RefreshToken) -> Membership:
    try:
        user = User.objects.filter(id=refresh.get(api_settings.USER_ID_CLAIM)).first()
        membership = (
            Membership.objects.select_related("user")
            .filter(id=refresh.get(MEMBERSHIP_CLAIM), user=user, organisation_id=refresh.get(ORG_CLAIM))
            .first()
            if user
            else None
        )
    except (ValidationError, ValueError, TypeError) as exc:  # claims of another shape than ours
        raise InvalidToken("Token carries no valid user or organisation.") from exc
    if user is None or not user.is_active:
        raise AuthenticationFailed("User not found or inactive.", code="user_not_found")
    if refresh.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
    if membership is None:
        raise AuthenticationFailed("You are no longer a member of this organisation.", code="membership_removed")
    return membership
