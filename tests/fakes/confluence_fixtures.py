"""Pytest fixtures for the fake Atlassian: import them into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.confluence import CLIENT_ID, CLIENT_SECRET, FakeAtlassian
from tests.fakes.confluence_openapi import v2_spec


@pytest.fixture
def atlassian(settings) -> Iterator[FakeAtlassian]:
    """The fake, with the ATLASSIAN_* settings pointing at it; no OpenAPI violation may be left."""
    v2_spec()  # a missing description fails here, plainly, not as dropped connections in the fake
    with FakeAtlassian() as fake:
        settings.ATLASSIAN_AUTH_URL = fake.auth_url
        settings.ATLASSIAN_API_URL = fake.api_url
        settings.ATLASSIAN_CLIENT_ID = CLIENT_ID
        settings.ATLASSIAN_CLIENT_SECRET = CLIENT_SECRET
        yield fake
    assert fake.spec.violations == [], fake.spec.violations


@pytest.fixture
def basic_config(atlassian: FakeAtlassian) -> dict[str, str]:
    return {"site_url": atlassian.site_url, "email": atlassian.model.email, "api_token": atlassian.model.api_token}


def seed_spaces(fake: FakeAtlassian, pages_per_space: dict[str, int]) -> None:
    """Spaces with numbered pages: `Page <key>-<n>` with a small storage body."""
    for key, count in pages_per_space.items():
        fake.model.add_space(key, f"Space {key}")
        for n in range(count):
            fake.model.add_page(key, f"Page {key}-{n}", f"<p>Body of <strong>{key}-{n}</strong></p>")
