"""The operators' Django admin for the hub: refresh tokens are listed without their text."""

import pytest
from django.test import Client
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from hub.auth import tokens_for
from hub.models import User

pytestmark = pytest.mark.django_db


def test_admin_lists_refresh_tokens_but_never_shows_one(org, make_member):
    refresh = tokens_for(make_member(org, email="lee@example.com"))["refresh"]
    outstanding = OutstandingToken.objects.get(user__email="lee@example.com")
    client = Client()
    client.force_login(User.objects.create_superuser("ops@example.com", "ops-pass-123"))
    for url in (
        "/admin/token_blacklist/outstandingtoken/",
        f"/admin/token_blacklist/outstandingtoken/{outstanding.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert outstanding.jti in page
        # Neither the token handed out nor the text stored when it was made (signed all the same).
        for token in (refresh, outstanding.token):
            assert token.split(".")[2] not in page
