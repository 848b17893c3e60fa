"""The fake Atlassian's fixtures, for the hub tests that reach Confluence actions."""

from tests.fakes.confluence_fixtures import atlassian, basic_config  # noqa: F401
