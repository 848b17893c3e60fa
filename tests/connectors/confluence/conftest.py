"""The fake Atlassian's fixtures for the Confluence connector tests."""

from tests.fakes.confluence_fixtures import atlassian, basic_config  # noqa: F401
