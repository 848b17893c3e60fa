"""Rate limits: login per IP and per email, the API per user; 429 RATE_LIMITED with Retry-After."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from hub.models import Role
from hub.throttles import window_hit

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token"
ME_URL = "/api/v1/auth/me"


def login(email: str, password: str = "wrong-pass", **meta):
    return APIClient().post(TOKEN_URL, {"email": email, "password": password}, format="json", **meta)


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= 120


def test_eleventh_login_in_a_minute_from_one_ip_is_rate_limited(org, make_member):
    make_member(org, email="ann@example.com", password="right-pass-1")
    for n in range(10):
        # Other emails each time: only the address is the same.
        assert login(f"guess{n}@example.com").status_code == 401
    assert_rate_limited(login("ann@example.com", "right-pass-1"))
    # Another address still logs in.
    assert login("ann@example.com", "right-pass-1", REMOTE_ADDR="10.0.0.7").status_code == 200


def test_a_forged_x_forwarded_for_does_not_give_a_fresh_address():
    for n in range(10):
        assert login(f"guess{n}@example.com", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 401
    assert_rate_limited(login("guess@example.com", HTTP_X_FORWARDED_FOR="198.51.100.1"))


def test_logins_for_one_email_are_limited_across_addresses(org, make_member):
    make_member(org, email="bo@example.com", password="right-pass-1")
    for n in range(10):
        assert login("bo@example.com", REMOTE_ADDR=f"10.1.0.{n}").status_code == 401
    # The right password from a new address, with another spelling of the same email: still refused.
    assert_rate_limited(login(" BO@example.com ", "right-pass-1", REMOTE_ADDR="10.2.0.1"))
    assert login("cy@example.com", REMOTE_ADDR="10.2.0.1").status_code == 401


def test_login_rate_is_a_setting(settings):
    settings.AUTH_LOGIN_RATE = "2/min"
    assert login("dee@example.com").status_code == 401
    assert login("dee@example.com").status_code == 401
    assert_rate_limited(login("dee@example.com"))


def test_parallel_logins_cannot_all_slip_under_the_limit():
    def attempt(n: int) -> int:
        try:
            return login(f"burst{n}@example.com").status_code
        finally:
            connections.close_all()

    # A read-modify-write counter lets a burst through; the cache's atomic increment does not.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(30)))
    assert set(statuses) == {401, 429} and statuses.count(401) <= 10


def test_api_is_limited_per_user(settings, org, make_member, client_for):
    settings.API_USER_RATE = "3/min"
    busy, other = client_for(make_member(org, Role.MEMBER)), client_for(make_member(org, Role.MEMBER))
    for _ in range(3):
        assert busy.get(ME_URL).status_code == 200
    assert_rate_limited(busy.get(ME_URL))
    assert_rate_limited(busy.get("/api/v1/knowledge/entries"))
    assert other.get(ME_URL).status_code == 200


def test_window_counts_the_previous_minute_by_the_part_still_inside_the_window():
    start = 600.0  # the beginning of a window of 60 s
    for n in range(10):
        assert window_hit("t:edge", limit=10, period=60, now=start + 59.5 + n * 0.01) is None
    # Just after the window turns, the ten of the last second still count almost fully.
    wait = window_hit("t:edge", limit=10, period=60, now=start + 60.2)
    assert wait is not None and 1 <= wait <= 60
    # A whole window later the old ones have aged out.
    assert window_hit("t:edge", limit=10, period=60, now=start + 120.5) is None
