"""The pure helpers of bench/confluence_sync.py: the listing asked, edits, checks (no timing)."""

from urllib.parse import urlencode

from bench.confluence_sync import (
    EDIT_MARK,
    edited_body,
    incremental_problems,
    listing_params,
)
from connectors.confluence.client import LIST_LIMIT
from connectors.confluence.storage import storage_to_text
from tests.connectors.confluence.helpers import basic_connector, pull_all
from tests.fakes.confluence_fixtures import atlassian, basic_config, seed_spaces  # noqa: F401


def test_the_listing_is_asked_as_the_connector_asks_it(atlassian, basic_config):  # noqa: F811
    # The fake keeps answers per query: the limit must send the connector's query, in its order.
    assert listing_params(bodies=True) == [("limit", LIST_LIMIT), ("status", "current"), ("body-format", "storage")]
    seed_spaces(atlassian, {"ENG": 2})
    pull_all(basic_connector(basic_config))
    space_id = atlassian.model.space_by_key("ENG").id
    asked = f"/wiki/api/v2/spaces/{space_id}/pages?{urlencode(listing_params(bodies=True))}"
    assert ("GET", asked) in atlassian.model.requests


def test_an_edited_body_reads_as_edited_once_mapped():
    assert storage_to_text(edited_body("100123")).startswith(f"{EDIT_MARK} 100123")


def test_incremental_problems_name_a_wrong_fetch_count_and_edits_not_shown():
    assert incremental_problems(edits=50, synced=50, shown=50) == []
    assert incremental_problems(edits=50, synced=61, shown=49) == [
        "the incremental sync fetched 61 pages, not the 50 edited",
        "49 of the 50 edited pages show the edit",
    ]
