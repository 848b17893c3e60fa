"""Login, refresh, and how tokens are judged on every request."""

from datetime import timedelta

import jwt
import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from hub import keys
from hub.auth import tokens_for
from hub.models import Role
from hub.permissions import IsAdmin, IsManager, SubscriptionActive
from hub.services import membership_remove, membership_set

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token"
ME_URL = "/api/v1/auth/me"
REFRESH_URL = "/api/v1/auth/token/refresh"


def login(email, password, **extra):
    return APIClient().post(TOKEN_URL, {"email": email, "password": password, **extra}, format="json")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_login_returns_tokens_for_the_only_organisation(org, make_member):
    member = make_member(org, Role.MANAGER, email="ann@example.com", password="s3cret-pass")
    response = login("ann@example.com", "s3cret-pass")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "org_id", "role"}
    assert body["org_id"] == str(org.id) and body["role"] == "manager"
    assert AccessToken(body["access"])["org_id"] == str(org.id)
    me = bearer(body["access"]).get(ME_URL).json()
    assert me["email"] == "ann@example.com" and me["user_id"] == str(member.user_id)


def test_refresh_returns_a_working_access_token_for_the_same_org(org, make_member):
    make_member(org, Role.ADMIN, email="bo@example.com", password="s3cret-pass")
    refresh = login("bo@example.com", "s3cret-pass").json()["refresh"]
    response = APIClient().post(TOKEN_URL + "/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    access = response.json()["access"]
    assert AccessToken(access)["org_id"] == str(org.id)
    assert bearer(access).get(ME_URL).json()["role"] == "admin"


def refresh_with(refresh: str):
    return APIClient().post(REFRESH_URL, {"refresh": refresh}, format="json")


def test_refresh_rotates_and_the_used_token_is_refused(org, make_member):
    make_member(org, Role.ADMIN, email="hal@example.com", password="s3cret-pass")
    first = login("hal@example.com", "s3cret-pass").json()["refresh"]
    answer = refresh_with(first)
    assert answer.status_code == 200, answer.content
    assert set(answer.json()) == {"access", "refresh"}
    second = answer.json()["refresh"]
    assert second != first and RefreshToken(second)["org_id"] == str(org.id)
    assert_error(refresh_with(first), 401, "UNAUTHORIZED")
    # The rotated one works, once, and still names the organisation.
    third = refresh_with(second)
    assert third.status_code == 200, third.content
    assert AccessToken(third.json()["access"])["org_id"] == str(org.id)
    assert bearer(third.json()["access"]).get(ME_URL).json()["org_id"] == str(org.id)
    assert_error(refresh_with(second), 401, "UNAUTHORIZED")


def test_a_password_change_ends_refresh_and_access_tokens(org, make_member):
    make_member(org, email="ivy@example.com", password="old-pass-123")
    pair = login("ivy@example.com", "old-pass-123").json()
    membership_set(organisation=org, email="ivy@example.com", role=Role.ADMIN, password="new-pass-456")
    assert_error(refresh_with(pair["refresh"]), 401, "UNAUTHORIZED")
    assert_error(bearer(pair["access"]).get(ME_URL), 401, "UNAUTHORIZED")
    fresh = login("ivy@example.com", "new-pass-456").json()
    assert refresh_with(fresh["refresh"]).status_code == 200


def test_a_removed_membership_ends_its_refresh_tokens_even_once_added_again(make_org, make_member):
    left, stays = make_org("Left"), make_org("Stays")
    make_member(left, email="jo@example.com", password="s3cret-pass")
    make_member(stays, email="jo@example.com", password="s3cret-pass")
    removed = login("jo@example.com", "s3cret-pass", org_id=str(left.id)).json()["refresh"]
    kept = login("jo@example.com", "s3cret-pass", org_id=str(stays.id)).json()["refresh"]
    membership_remove(organisation=left, email="jo@example.com")
    assert_error(refresh_with(removed), 401, "UNAUTHORIZED")
    membership_set(organisation=left, email="jo@example.com", role=Role.MEMBER)
    assert_error(refresh_with(removed), 401, "UNAUTHORIZED")
    assert refresh_with(kept).status_code == 200


def test_refresh_of_a_deleted_org_is_unauthorized(org, make_member):
    refresh = tokens_for(make_member(org))["refresh"]
    org.delete()
    assert_error(refresh_with(refresh), 401, "UNAUTHORIZED")


def test_refreshing_the_token_of_a_deleted_user_is_unauthorized(org, make_member):
    membership = make_member(org, email="kim@example.com")
    refresh = tokens_for(membership)["refresh"]
    membership.user.delete()
    assert_error(refresh_with(refresh), 401, "UNAUTHORIZED")


def test_refresh_with_garbage_is_unauthorized():
    response = APIClient().post(TOKEN_URL + "/refresh", {"refresh": "nope"}, format="json")
    assert_error(response, 401, "UNAUTHORIZED")


def test_wrong_password_is_unauthorized(org, make_member):
    make_member(org, email="cy@example.com", password="right-pass")
    assert_error(login("cy@example.com", "wrong-pass"), 401, "UNAUTHORIZED")
    assert_error(login("nobody@example.com", "right-pass"), 401, "UNAUTHORIZED")


def test_login_body_is_validated():
    response = APIClient().post(TOKEN_URL, {"email": "not-an-email"}, format="json")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert set(response.json()["error"]["details"]) == {"email", "password"}


def test_user_of_several_orgs_must_choose_one(make_org, make_member):
    first, second = make_org("First"), make_org("Second")
    make_member(first, Role.MEMBER, email="dee@example.com", password="s3cret-pass")
    make_member(second, Role.ADMIN, email="dee@example.com", password="s3cret-pass")
    response = login("dee@example.com", "s3cret-pass")
    assert_error(response, 400, "VALIDATION_ERROR")
    offered = {o["id"]: o["role"] for o in response.json()["error"]["details"]["organisations"]}
    assert offered == {str(first.id): "member", str(second.id): "admin"}
    chosen = login("dee@example.com", "s3cret-pass", org_id=str(second.id)).json()
    assert chosen["org_id"] == str(second.id) and chosen["role"] == "admin"


def test_login_to_a_foreign_or_missing_org_is_refused(make_org, make_member):
    mine, other = make_org("Mine"), make_org("Other")
    make_member(mine, email="eve@example.com", password="s3cret-pass")
    assert_error(login("eve@example.com", "s3cret-pass", org_id=str(other.id)), 403, "INSUFFICIENT_ROLE")
    missing = "00000000-0000-0000-0000-000000000000"
    assert_error(login("eve@example.com", "s3cret-pass", org_id=missing), 403, "ORG_NOT_FOUND")


def test_no_token_is_unauthorized():
    assert_error(APIClient().get(ME_URL), 401, "UNAUTHORIZED")


def test_garbage_token_is_unauthorized_with_a_readable_message():
    response = bearer("garbage.token.here").get(ME_URL)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.json()["error"]["message"] == "Given token not valid for any token type"


def test_expired_token_is_unauthorized(org, make_member):
    membership = make_member(org)
    token = AccessToken.for_user(membership.user)
    token["org_id"] = str(org.id)
    token.set_exp(lifetime=-timedelta(seconds=1))
    assert_error(bearer(str(token)).get(ME_URL), 401, "UNAUTHORIZED")


def test_token_signed_with_another_key_is_unauthorized(org, make_member):
    claims = AccessToken(tokens_for(make_member(org))["access"]).payload
    forged = jwt.encode(claims, "another-signing-key-that-is-long-enough-0123", algorithm="HS256")
    assert_error(bearer(forged).get(ME_URL), 401, "UNAUTHORIZED")


def test_token_signed_with_the_raw_secret_key_is_refused(org, make_member, settings):
    pair = tokens_for(make_member(org))
    access_claims, refresh_claims = AccessToken(pair["access"]).payload, RefreshToken(pair["refresh"]).payload
    assert bearer(pair["access"]).get(ME_URL).status_code == 200
    assert_error(bearer(jwt.encode(access_claims, settings.SECRET_KEY, "HS256")).get(ME_URL), 401, "UNAUTHORIZED")
    assert_error(refresh_with(jwt.encode(refresh_claims, settings.SECRET_KEY, "HS256")), 401, "UNAUTHORIZED")
    # What signs them is the key derived for JWTs.
    signing_key = keys.derived_key_text(settings.SECRET_KEY, keys.JWT_SIGNING)
    assert jwt.decode(pair["access"], signing_key, algorithms=["HS256"])["org_id"] == str(org.id)


def test_token_of_a_deleted_org_is_org_not_found(org, make_member):
    access = tokens_for(make_member(org))["access"]
    org.delete()
    assert_error(bearer(access).get(ME_URL), 403, "ORG_NOT_FOUND")


def test_token_of_a_removed_member_is_insufficient_role(org, make_member):
    membership = make_member(org, email="fay@example.com")
    access = tokens_for(membership)["access"]
    assert bearer(access).get(ME_URL).status_code == 200
    membership_remove(organisation=org, email="fay@example.com")
    assert_error(bearer(access).get(ME_URL), 403, "INSUFFICIENT_ROLE")


class AdminOnly(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return Response({"ok": True})


class ManagerWithSubscription(APIView):
    permission_classes = [IsManager, SubscriptionActive]

    def get(self, request):
        return Response({"ok": True})


def call(view, access: str):
    request = APIRequestFactory().get("/api/v1/probe", HTTP_AUTHORIZATION=f"Bearer {access}")
    return view.as_view()(request)


def test_demotion_takes_effect_on_the_next_request(org, make_member):
    membership = make_member(org, Role.ADMIN, email="gil@example.com")
    access = tokens_for(membership)["access"]
    assert call(AdminOnly, access).status_code == 200
    membership_set(organisation=org, email="gil@example.com", role=Role.MANAGER)
    response = call(AdminOnly, access)
    assert response.status_code == 403
    assert response.data["error"]["code"] == "INSUFFICIENT_ROLE"
    assert bearer(access).get(ME_URL).json()["role"] == "manager"


@pytest.mark.parametrize(("role", "status"), [(Role.MEMBER, 403), (Role.MANAGER, 200), (Role.ADMIN, 200)])
def test_minimum_role_is_ordered(org, make_member, role, status):
    assert call(ManagerWithSubscription, tokens_for(make_member(org, role))["access"]).status_code == status


@pytest.mark.parametrize(
    ("status", "trial_days", "expected"),
    [
        ("active", None, 200),
        ("trialing", 3, 200),
        ("trialing", -1, 402),
        ("past_due", None, 402),
        ("canceled", None, 402),
    ],
)
def test_inactive_subscription_is_payment_required(make_org, make_member, status, trial_days, expected):
    organisation = make_org(status=status, trial_days=trial_days)
    response = call(ManagerWithSubscription, tokens_for(make_member(organisation, Role.ADMIN))["access"])
    assert response.status_code == expected
    if expected == 402:
        assert response.data["error"]["code"] == "SUBSCRIPTION_REQUIRED"
