"""Haiilo events to records: what each type's title, text and link are; languages; filters."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from connectors.base import Record, Skipped
from connectors.haiilo.mapping import _path_segment, deep_link, record_from_event

BASE = "https://acme.haiilo.com"


def event(**fields) -> dict:
    return {"eventId": 7, "entityId": "e-1", "eventType": "CREATE", "tenantId": "t", **fields}


def mapped(entity_type: str, **fields) -> Record:
    record = record_from_event(entity_type, event(**fields), BASE)
    assert isinstance(record, Record), record
    return record


def test_a_blog_article_is_its_title_clean_text_author_and_deep_link():
    record = mapped(
        "blog-article",
        title={"en": "Welcome"},
        defaultLanguage="en",
        status="PUBLISHED",
        visibility="PUBLIC",
        textContent={"en": "<h1>Hi</h1><p>Our <b>new</b> office&nbsp;opens.</p><script>track()</script>"},
        author={"id": "u-9", "type": "user", "displayName": "Ann Lee"},
        createdDate="2026-01-02T03:04:05Z",
        modifiedDate=1767322800000,
        target={"name": "blog_article_detail", "params": {"appId": "a-1", "articleId": "e-1"}},
    )
    assert (record.external_id, record.title, record.content) == (
        "blog-article:e-1",
        "Welcome",
        "Hi\nOur new office opens.",
    )
    assert record.html.startswith("<h1>Hi</h1>") and record.author == "Ann Lee" and record.language == "en"
    assert record.url == f"{BASE}/apps/a-1/articles/e-1"
    assert record.source_created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.source_updated_at == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    target = {"name": "blog_article_detail", "params": {"appId": "a-1", "articleId": "e-1"}}
    assert record.metadata == {"entity_type": "blog-article", "entity_id": "e-1", "target": target}


def test_a_user_is_a_small_profile_entry():
    record = mapped(
        "user",
        displayName="Ann Lee",
        email="ann@acme.example",
        status="ACTIVE",
        locale="de_DE",
        properties={"jobTitle": "Engineer", "department": "R&D"},
        target={"name": "user", "params": {"id": "e-1", "slug": "ann-lee"}},
    )
    assert record.title == "Ann Lee"
    assert record.content == "Email: ann@acme.example\nJob title: Engineer\nDepartment: R&D"
    assert (record.url, record.language) == (f"{BASE}/profile/ann-lee", "de")


def test_an_app_is_its_name_and_description():
    record = mapped(
        "app",
        type="wiki",
        name={"en": "Handbook", "de": "Handbuch"},
        defaultLanguage="de",
        textContent={"de": "<p>Alles über uns</p>"},
        visibility="PUBLIC",
        active=True,
        enabled=True,
        target={"name": "app", "params": {"appId": "e-1"}},
    )
    assert (record.title, record.content, record.language) == ("Handbuch", "Alles über uns", "de")
    assert record.metadata["app_type"] == "wiki" and record.metadata["translations"] == {"en": {"title": "Handbook"}}
    assert record.url == f"{BASE}/apps/e-1"


@pytest.mark.parametrize("entity_type", ["page", "workspace"])
def test_pages_and_workspaces_are_their_name_and_description(entity_type):
    record = mapped(
        entity_type,
        name={"en": "HR"},
        description={"en": "<p>People &amp; culture</p>"},
        visibility="PUBLIC",
        target={"name": entity_type, "params": {"id": "e-1", "slug": "hr"}},
    )
    assert (record.title, record.content) == ("HR", "People & culture")
    assert record.url == f"{BASE}/{entity_type}s/hr"


def test_a_file_is_its_name_description_and_type():
    record = mapped(
        "file",
        name="travel-policy.pdf",
        description="Rules for trips",
        contentType="application/pdf",
        size=1234,
        target={"name": "file_detail", "params": {"fileId": "e-1"}},
    )
    assert (record.title, record.content, record.url) == ("travel-policy.pdf", "Rules for trips", f"{BASE}/files/e-1")
    assert record.metadata["content_type"] == "application/pdf" and record.metadata["size"] == 1234


def test_a_timeline_item_is_its_message_with_attachments_and_a_title_from_its_first_line():
    record = mapped(
        "timeline-item",
        itemType="POST",
        status="VISIBLE",
        author={"id": "u-2", "type": "user"},
        data={"message": "Lunch is on us today!<br>See you at noon."},
        attachments=[{"name": "menu.pdf", "contentType": "application/pdf"}],
    )
    assert record.title == "Lunch is on us today!"
    assert record.content == "Lunch is on us today!\nSee you at noon.\nAttachments: menu.pdf"
    assert (record.author, record.url) == ("u-2", "")  # no target: no deep link


def test_a_type_never_seen_is_mapped_from_its_common_fields():
    record = mapped(
        "event",
        subject={"en": "Summer party"},
        description={"en": "<p>At the lake</p>"},
        defaultLanguage="en",
        target={"url": "/events/e-1"},
    )
    assert (record.external_id, record.title, record.content) == ("event:e-1", "Summer party", "At the lake")
    assert record.url == f"{BASE}/events/e-1"
    untitled = mapped("poll", text="Which day suits you best?\nVote below")
    assert untitled.title == "Which day suits you best?"


@pytest.mark.parametrize(
    ("default", "expected_title", "expected_language"),
    [("de", "Willkommen", "de"), ("fr", "Welcome", "en"), ("", "Welcome", "en")],
    ids=["default-language", "missing-default-falls-back-to-english", "no-default"],
)
def test_multilingual_maps_use_the_default_language_and_keep_the_others(default, expected_title, expected_language):
    record = mapped(
        "blog-article",
        defaultLanguage=default,
        title={"en": "Welcome", "de": "Willkommen"},
        textContent={"en": "<p>Hello</p>", "de": "<p>Hallo</p>"},
    )
    assert (record.title, record.language) == (expected_title, expected_language)
    others = record.metadata["translations"]
    assert expected_language not in others and set(others) == {"en", "de"} - {expected_language}
    assert all(set(t) == {"title", "text"} and "<" not in t["text"] for t in others.values())


def test_a_map_without_english_or_the_default_falls_back_to_its_first_language():
    record = mapped("page", defaultLanguage="fr", name={"nl": "Welkom", "sv": "Välkommen"})
    assert (record.title, record.language) == ("Welkom", "nl")


@pytest.mark.parametrize(
    ("entity_type", "fields", "reason"),
    [
        ("blog-article", {"status": "DRAFT"}, "status DRAFT"),
        ("blog-article", {"visibility": "PRIVATE"}, "visibility PRIVATE"),
        ("user", {"status": "INACTIVE"}, "status INACTIVE"),
        ("user", {"status": "DELETED"}, "status DELETED"),
        ("user", {"status": "HIDDEN"}, "status HIDDEN"),
        ("timeline-item", {"status": "HIDDEN"}, "status HIDDEN"),
        ("app", {"active": False}, "inactive or disabled"),
        ("app", {"enabled": False, "visibility": "PUBLIC"}, "inactive or disabled"),
        ("workspace", {"visibility": "PROTECTED"}, "visibility PROTECTED"),
    ],
)
def test_drafts_deleted_hidden_and_non_public_items_are_skipped_with_a_reason(entity_type, fields, reason):
    result = record_from_event(entity_type, event(title={"en": "T"}, **fields), BASE)
    assert result == Skipped(f"{entity_type}:e-1", reason)


@pytest.mark.parametrize(
    "fields", [{"status": "PUBLISHED", "visibility": "PUBLIC"}, {"status": "ACTIVE"}, {"status": "VISIBLE"}, {}]
)
def test_published_active_visible_and_unmarked_items_are_kept(fields):
    assert isinstance(record_from_event("blog-article", event(title={"en": "T"}, **fields), BASE), Record)


def test_deep_links_need_their_parameters_and_a_known_target():
    assert deep_link(BASE, {"name": "blog_article_detail", "params": {"appId": "a"}}) == ""
    assert deep_link(BASE, {"name": "no-such-route", "params": {"id": "1"}}) == ""
    assert deep_link(BASE, {"url": "https://elsewhere.example/x"}) == "https://elsewhere.example/x"
    assert deep_link(BASE, {"name": "page", "params": {"slug": "a b/c"}}) == f"{BASE}/pages/a%20b%2Fc"
    assert deep_link(BASE, None) == ""


def test_a_deep_links_ids_are_percent_encoded_unless_plain_ascii_letters_and_digits():
    assert deep_link(BASE, {"name": "file", "params": {"fileId": "F00d42"}}) == f"{BASE}/files/F00d42"
    assert deep_link(BASE, {"name": "file", "params": {"fileId": "\u00e91"}}) == f"{BASE}/files/%C3%A91"
    assert deep_link(BASE, {"name": "file", "params": {"fileId": "a_b.c-d~e"}}) == f"{BASE}/files/a_b.c-d~e"
    assert deep_link(BASE, {"name": "app", "params": {"id": 7}}) == f"{BASE}/apps/7"


def test_a_path_segment_is_what_quote_makes_of_it_whether_or_not_it_takes_the_shortcut():
    # The shortcut (an id of unreserved characters is passed as it is) must never change a link.
    characters = [chr(code) for code in range(0x3000) if not 0xD800 <= code <= 0xDFFF]
    for value in [*characters, "a-b", "1.2~3_x", "550e8400-e29b-41d4-a716-446655440000", "a b", "x/y", "%41"]:
        assert _path_segment(value) == quote(value, safe=""), value
