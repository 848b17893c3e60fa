"""Browser fixtures: the hub on 127.0.0.1 with a real worker, Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.models import Membership, Role
from tests.console.live_hub import LiveHub
from tests.fakes.notes import NotesServer
from tests.fakes.oauth_provider import FakeOAuthProvider

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The machine reaches no network but the package registries: keep Chromium from trying.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent.parent
# `make test` keeps its screenshots under var/; docs/screenshots/ is refreshed on purpose (see README).
SCREENSHOT_DIR = Path(os.environ.get("CONSOLE_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "console-pw-123"


@pytest.fixture(scope="session")
def fake_oauth() -> Iterator[FakeOAuthProvider]:
    with FakeOAuthProvider() as provider:
        yield provider


@pytest.fixture(scope="session")
def hub(celery_worker_process, fake_oauth) -> Iterator[LiveHub]:
    with LiveHub.started(oauth_provider_url=fake_oauth.url) as live:
        yield live


@pytest.fixture(scope="session")
def browser(django_db_setup):
    # A missing browser is a failure, never a skip: CI must run these tests (`make test` installs it).
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` (make test does it).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread (driven through greenlets, never
    # concurrently with the test's code), which Django's async-safety check would take for async code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser, hub, fake_oauth, request):
    """A fresh browser profile per test, so tokens in localStorage never leak between tests."""
    fake_oauth.state.deny = False
    context = browser.new_context(viewport=LAPTOP, base_url=hub.url)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors in {request.node.name}: {errors}"


@pytest.fixture
def notes() -> Iterator[NotesServer]:
    with NotesServer() as server:
        yield server


@pytest.fixture
def screenshot() -> Callable:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def take(tab, name: str, *, full_page: bool = False) -> Path:
        path = SCREENSHOT_DIR / f"{name}.png"
        tab.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return take


@pytest.fixture
def log_in() -> Callable:
    def log_in(tab, membership: Membership, *, organisation_name: str | None = None, landing: str = "/") -> None:
        tab.goto("/login")
        tab.fill("#email", membership.user.email)
        tab.fill("#password", PASSWORD)
        tab.click("#login-submit")
        if organisation_name:
            tab.get_by_label(organisation_name).check()
            tab.click("#login-submit")
        tab.wait_for_url(f"**{landing}")
        tab.wait_for_selector("#account:not([hidden])")

    return log_in


@pytest.fixture
def member_of(make_member) -> Callable[..., Membership]:
    def make(organisation, role: Role = Role.ADMIN, email: str | None = None) -> Membership:
        return make_member(organisation, role, email=email, password=PASSWORD)

    return make
