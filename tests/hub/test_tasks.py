"""Hub beat tasks: expired refresh tokens are deleted, live ones kept."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from hub.auth import tokens_for
from hub.tasks import flush_expired_refresh_tokens

pytestmark = pytest.mark.django_db


def test_expired_refresh_tokens_are_flushed_on_a_schedule(org, make_member):
    expired, live = tokens_for(make_member(org))["refresh"], tokens_for(make_member(org))["refresh"]
    OutstandingToken.objects.filter(jti=RefreshToken(expired)["jti"]).update(expires_at=timezone.now() - timedelta(1))
    assert flush_expired_refresh_tokens() == 1
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [RefreshToken(live)["jti"]]
    assert APIClient().post("/api/v1/auth/token/refresh", {"refresh": live}, format="json").status_code == 200
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert flush_expired_refresh_tokens.name in schedule
