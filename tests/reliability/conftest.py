"""Fixtures of the reliability tests."""

from tests.webhooks.conftest import webhook  # noqa: F401
