"""The lazily read events page gives what json.loads would, one event at a time, or a clear error."""

from __future__ import annotations

import json

import pytest

from connectors.errors import UpstreamRejected
from connectors.haiilo.page import EventsPage

EVENTS = [
    {"eventId": 3, "entityId": "a", "title": {"en": "Brackets ] } and , commas"}, "tags": [1, [2, {"x": None}]]},
    {"eventId": 5, "entityId": "b", "textContent": {"de": 'Grüße \u2013 "quoted"'}},
]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"amount": 2, "lastEventId": 9, "content": EVENTS}),
        json.dumps({"content": EVENTS, "amount": 2, "lastEventId": 9}),
        json.dumps({"amount": 2, "content": EVENTS, "lastEventId": 9, "extra": {"nested": [1, 2]}}, indent=2),
        '\n {"lastEventId" : 9 ,\r\n "content" :\t[ ' + " , ".join(json.dumps(e) for e in EVENTS) + " ] } \n",
    ],
    ids=["cursor-first", "cursor-last", "indented-with-extras", "odd-whitespace"],
)
def test_a_page_yields_its_events_and_cursor_whatever_the_layout(text):
    page = EventsPage(text, "GET /events/x")
    assert list(page.events()) == EVENTS
    assert (page.count, page.last_event_id, page.max_event_id) == (2, 9, 5)


def test_an_empty_page_and_a_page_without_a_cursor():
    empty = EventsPage('{"amount": 0, "lastEventId": 4, "content": []}', "GET /events/x")
    assert list(empty.events()) == [] and (empty.count, empty.last_event_id) == (0, 4)
    uncursored = EventsPage(json.dumps({"lastEventId": None, "content": EVENTS}), "GET /events/x")
    assert len(list(uncursored.events())) == 2
    assert (uncursored.last_event_id, uncursored.max_event_id) == (None, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"amount": 0}', "no `content` list"),
        ("[]", "'{' expected"),
        ('{"content": [{"eventId": 1} {"eventId": 2}]}', "missing comma between events"),
        ('{"content": [{"eventId": 1}, {"eventId": ', "invalid JSON"),
        ('{"content": [] "amount": 0}', "missing comma between fields"),
        ('{"lastEventId": "soon", "content": []}', "not a number"),
        ("<html>maintenance</html>", "'{' expected"),
    ],
)
def test_a_malformed_page_is_rejected_naming_what_is_wrong(text, message):
    page = EventsPage(text, "GET /web/content-connector/events/user")
    with pytest.raises(UpstreamRejected, match=message) as caught:
        list(page.events())
    assert "GET /web/content-connector/events/user" in caught.value.message
