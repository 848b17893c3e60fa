"""The login page's ?next= goes only to a path on the hub's own origin: in Debian's Chromium, and in the view."""

from __future__ import annotations

import pytest

from console.views import safe_next_path
from hub.models import Role
from tests.console.conftest import PASSWORD

# As they appear in the address bar: already percent-encoded where a browser would send them so.
HOSTILE_NEXT = [
    "/%09/evil.example",
    "/%0A/evil.example",
    "//evil.example",
    "/%5Cevil.example",
    "/\\evil.example",
    "%2F%2Fevil.example",
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "%20//evil.example",
]


def landed_on(page, hub) -> str:
    """Where the login page sent the browser, once it has left /login."""
    page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
    return page.url


@pytest.fixture
def evil_site(page):
    """evil.example answers (the machine has no DNS for it), so a redirect there would be seen, not time out."""
    page.context.route("**/*evil.example*/**", lambda route: route.fulfill(status=200, body="evil"))
    page.context.route("https://evil.example/**", lambda route: route.fulfill(status=200, body="evil"))
    return page


@pytest.mark.worker
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_logged_in_visitor_is_never_redirected_to_another_site(evil_site, hub, org, member_of, log_in):
    page = evil_site
    log_in(page, member_of(org, Role.ADMIN))
    for value in HOSTILE_NEXT:
        page.goto(f"/login?next={value}")
        assert landed_on(page, hub) == f"{hub.url}/", value
    page.goto("/login?next=%2Fknowledge%3Fq%3Drelease")
    assert landed_on(page, hub) == f"{hub.url}/knowledge?q=release"


@pytest.mark.worker
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_after_logging_in_the_visitor_stays_on_the_hub(evil_site, hub, org, member_of):
    page = evil_site
    membership = member_of(org, Role.ADMIN)
    for value in [*HOSTILE_NEXT, "%2Fknowledge"]:
        if page.url.startswith(hub.url):
            page.evaluate("localStorage.clear()")  # logged out again for the next value
        page.goto(f"/login?next={value}")
        page.wait_for_selector("#login-form")
        page.fill("#email", membership.user.email)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        expected = f"{hub.url}/knowledge" if value == "%2Fknowledge" else f"{hub.url}/"
        assert landed_on(page, hub) == expected, value
        page.wait_for_selector("#account:not([hidden])")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
        (" //evil.example", "/"),
        ("/\x00x", "/"),
        ("", "/"),
        (None, "/"),
        ("/knowledge?q=a", "/knowledge?q=a"),
        ("/integrations/new", "/integrations/new"),
    ],
)
def test_the_view_judges_next_before_the_page_does(value, expected):
    assert safe_next_path(value) == expected
