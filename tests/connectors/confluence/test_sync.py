"""Page sync with Basic auth against the fake Confluence: full, incremental, pruning, faults."""

import pytest

from connectors.confluence.client import LIST_LIMIT
from connectors.errors import RateLimited, UpstreamUnavailable
from tests.connectors.confluence.helpers import basic_connector, pull_all
from tests.fakes.confluence_fixtures import seed_spaces

BIG_RETRY_AFTER = "9223372036854775807"


def body_requests(fake) -> list[str]:
    return [path for method, path in fake.model.requests if "body-format=storage" in path]


def test_full_sync_yields_every_current_page_with_text_html_url_author_and_times(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 3, "HR": 2})
    atlassian.model.add_page("ENG", "Draft", status="draft")
    trashed = atlassian.model.add_page("ENG", "Old")
    atlassian.model.trash_page(trashed.id)
    pulled = pull_all(basic_connector(basic_config))
    assert sorted(r.title for r in pulled.records) == ["Page ENG-0", "Page ENG-1", "Page ENG-2", "Page HR-0",
                                                      "Page HR-1"]  # fmt: skip
    record = next(r for r in pulled.records if r.title == "Page ENG-1")
    page = next(p for p in atlassian.model.pages.values() if p.current.title == "Page ENG-1")
    assert record.external_id == page.id
    assert record.html == "<p>Body of <strong>ENG-1</strong></p>" and record.content == "Body of ENG-1"
    assert record.url == f"{atlassian.site_url}/wiki/spaces/ENG/pages/{page.id}/Page+ENG+1"
    assert record.author == "557058:ann"
    assert record.metadata["space_key"] == "ENG" and record.metadata["version"] == 1
    assert record.source_created_at is not None and record.source_updated_at is not None
    assert not pulled.deletions and not pulled.failures
    assert set(pulled.checkpoint["spaces"]) == {s.id for s in atlassian.model.spaces.values()}


def test_full_sync_follows_the_cursor_to_the_end(atlassian, basic_config):
    seed_spaces(atlassian, {"BIG": LIST_LIMIT + 7})
    pulled = pull_all(basic_connector(basic_config))
    assert len({r.external_id for r in pulled.records}) == LIST_LIMIT + 7
    assert len([p for p in body_requests(atlassian) if "/pages" in p]) == 2
    assert any("cursor=" in path for _, path in atlassian.model.requests)


def test_spaces_config_limits_the_sync_and_warns_about_unknown_keys(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 2, "HR": 2})
    pulled = pull_all(basic_connector(basic_config, spaces="HR, NOPE"))
    assert {r.metadata["space_key"] for r in pulled.records} == {"HR"}
    assert pulled.warnings == ["Confluence space NOPE was not found or these credentials cannot read it."]


def test_second_sync_fetches_no_unchanged_body_updates_changed_pages_and_prunes(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 5})
    connector = basic_connector(basic_config)
    first = pull_all(connector)
    ids = sorted(r.external_id for r in first.records)
    atlassian.model.edit_page(ids[0], body="<p>Edited</p>")
    atlassian.model.trash_page(ids[1])
    atlassian.model.purge_page(ids[2])
    added = atlassian.model.add_page("ENG", "Brand new")
    atlassian.model.requests.clear()
    second = pull_all(connector, first.checkpoint)
    assert sorted(r.external_id for r in second.records) == sorted([ids[0], added.id])
    assert next(r for r in second.records if r.external_id == ids[0]).content == "Edited"
    assert sorted(second.deletions) == sorted([ids[1], ids[2]])
    assert second.found == [2]
    # Bodies were asked for only by id, and only for the two changed pages.
    fetched = body_requests(atlassian)
    assert len(fetched) == 1 and fetched[0].startswith("/wiki/api/v2/pages?")
    assert fetched[0].count("id=") == 2
    third = pull_all(connector, second.checkpoint)
    assert third.records == [] and third.deletions == [] and third.found == [0]


def test_a_space_that_disappears_takes_its_pages_with_it(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 2, "HR": 2})
    first = pull_all(basic_connector(basic_config))
    hr_ids = sorted(r.external_id for r in first.records if r.metadata["space_key"] == "HR")
    second = pull_all(basic_connector(basic_config, spaces="ENG"), first.checkpoint)
    assert sorted(second.deletions) == hr_ids
    assert set(second.checkpoint["spaces"]) == {atlassian.model.space_by_key("ENG").id}


def test_a_page_moved_to_another_space_is_not_pruned(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 2, "HR": 1})
    first = pull_all(basic_connector(basic_config))
    moved = next(p for p in atlassian.model.pages.values() if p.current.title == "Page ENG-0")
    moved.space_id = atlassian.model.space_by_key("HR").id
    atlassian.model.edit_page(moved.id, body="<p>Moved</p>")
    second = pull_all(basic_connector(basic_config), first.checkpoint)
    assert moved.id not in second.deletions
    assert [r.metadata["space_key"] for r in second.records if r.external_id == moved.id] == ["HR"]


def test_429_with_an_absurd_retry_after_is_clamped_and_the_sync_goes_on(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 3})
    space = atlassian.model.space_by_key("ENG")
    atlassian.model.fail(f"/spaces/{space.id}/pages", 429, headers={"Retry-After": BIG_RETRY_AFTER}, times=2)
    sleeps: list[float] = []
    connector = basic_connector(basic_config, sleeps)
    pulled = pull_all(connector)
    assert len(pulled.records) == 3
    assert sleeps == [connector.retry_after_max, connector.retry_after_max]


def test_503_without_retry_after_backs_off_with_jitter_and_recovers(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 1})
    atlassian.model.fail("/spaces", 503, times=1)
    sleeps: list[float] = []
    assert len(pull_all(basic_connector(basic_config, sleeps)).records) == 1
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5


def test_ratelimit_reset_header_is_used_when_retry_after_is_missing(atlassian, basic_config):
    from datetime import UTC, datetime, timedelta

    seed_spaces(atlassian, {"ENG": 1})
    reset = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    atlassian.model.fail("/spaces", 429, headers={"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"})
    sleeps: list[float] = []
    pull_all(basic_connector(basic_config, sleeps))
    assert len(sleeps) == 1 and 15 < sleeps[0] <= 20


def test_endless_429_fails_naming_the_space_and_the_status_after_bounded_retries(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 1})
    space = atlassian.model.space_by_key("ENG")
    atlassian.model.fail(f"/spaces/{space.id}/pages", 429, headers={"Retry-After": "1"}, times=100)
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as caught:
        pull_all(basic_connector(basic_config, sleeps))
    assert "Confluence space ENG (HTTP 429)" in caught.value.message
    assert caught.value.retryable and len(sleeps) == 4  # five attempts, four waits


def test_a_server_error_on_one_space_names_the_space_and_status(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 1, "OPS": 1})
    space = atlassian.model.space_by_key("OPS")
    atlassian.model.fail(f"/spaces/{space.id}/pages", 503, times=100)
    with pytest.raises(UpstreamUnavailable) as caught:
        pull_all(basic_connector(basic_config))
    assert "Confluence space OPS (HTTP 503)" in caught.value.message


def test_every_request_and_answer_was_checked_against_the_official_description(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": 2})
    connector = basic_connector(basic_config)
    first = pull_all(connector)
    atlassian.model.edit_page(first.records[0].external_id, body="<p>x</p>")
    pull_all(connector, first.checkpoint)
    v2_requests = [path for _, path in atlassian.model.requests if path.startswith("/wiki/api/v2")]
    assert atlassian.spec.requests_checked == len(v2_requests) > 0
    assert atlassian.spec.responses_checked == len(v2_requests)
    assert atlassian.spec.violations == []


def test_the_cursor_is_followed_from_the_link_header_when_the_body_has_no_next(atlassian, basic_config):
    seed_spaces(atlassian, {"BIG": LIST_LIMIT + 3})
    atlassian.model.links_in_body = False
    assert len(pull_all(basic_connector(basic_config)).records) == LIST_LIMIT + 3


def test_a_hanging_upstream_times_out_and_fails_naming_the_space(atlassian, basic_config):
    seed_spaces(atlassian, {"ENG": LIST_LIMIT + 1})
    connector = basic_connector(basic_config)
    # A second to answer: the first page (checked against the OpenAPI file) fits in it even on a busy machine.
    connector.read_timeout = 1.0
    pulled = connector.pull({})
    next(pulled)  # the first list page answered in time; the second will hang
    atlassian.model.delay = 2.5
    with pytest.raises(UpstreamUnavailable) as caught:
        list(pulled)
    assert "Confluence space ENG" in caught.value.message and "ReadTimeout" in caught.value.message


def test_the_fake_kept_answers_are_the_same_until_forgotten_and_still_meet_the_description(atlassian, basic_config):
    # The bench's cache (cache_answers): the fixture checks every kept answer against the OpenAPI file too.
    seed_spaces(atlassian, {"ENG": 3, "HR": 2})
    atlassian.cache_answers = True
    first = pull_all(basic_connector(basic_config))
    page = next(iter(atlassian.model.pages.values()))
    atlassian.model.edit_page(page.id, body="<p>Edited</p>")
    kept = pull_all(basic_connector(basic_config))
    atlassian.answers_forget()
    fresh = pull_all(basic_connector(basic_config))
    assert [r.content for r in kept.records] == [r.content for r in first.records]
    assert "Edited" in {r.content for r in fresh.records} - {r.content for r in first.records}
