"""A Haiilo events page read lazily: one event object at a time from the page's text.

A page of 10,000 events is 10-20 MB of JSON; parsed at once it is ten times that in Python objects.
Here the text stays as one string and each event is decoded by the standard library's C scanner
(`json.JSONDecoder.raw_decode`) only when the sync reaches it, so the worker holds the text and
one event, whatever the page size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from connectors.errors import MalformedResponse

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclass
class ReadPage:
    """A page whose events are read (EventsPage.read); the same attributes as an EventsPage's."""

    content: list[Any]
    count: int
    last_event_id: int | None
    max_event_id: int | None

    def events(self) -> Iterator[Any]:
        events, self.content = self.content, []  # read once, as an EventsPage is
        return iter(events)


class EventsPage:
    """`{"amount", "lastEventId", "content": [...]}`; `events()` yields the content once.

    `count` and `last_event_id` are final when `events()` is exhausted (lastEventId may come after
    the content). `max_event_id` is the highest `eventId` seen, for a page without lastEventId.
    """

    def __init__(self, text: str, where: str, *, status_code: int = 200) -> None:
        self._text = text
        self._where = where  # "Haiilo: GET <url> returned 200"
        self._status_code = status_code
        self.count = 0
        self.last_event_id: int | None = None
        self.max_event_id: int | None = None

    def read(self) -> ReadPage:
        """The page read whole: its count and cursor known before its events are mapped, so the next
        page can be asked for meanwhile (each is still read once)."""
        events = list(self.events())
        return ReadPage(events, self.count, self.last_event_id, self.max_event_id)

    def events(self) -> Iterator[dict[str, Any]]:
        text = self._text
        pos = self._skip_in(text, 0)
        self._text = ""  # the page is read once; its text goes when the reading ends
        pos = self._expect(text, pos, "{")
        saw_content = False
        while not text.startswith("}", pos):
            key, pos = self._decode(text, pos)
            if not isinstance(key, str):
                self._reject("an object key that is not a string")
            pos = self._expect(text, self._skip_in(text, pos), ":")
            if key == "content" and text.startswith("[", pos):
                saw_content = True
                pos = yield from self._content(text, self._skip_in(text, pos + 1))
            else:
                value, pos = self._decode(text, pos)
                if key == "lastEventId" and value is not None:
                    self.last_event_id = self._int(value)
            pos = self._skip_in(text, pos)
            if text.startswith(",", pos):
                pos = self._skip_in(text, pos + 1)
            elif not text.startswith("}", pos):
                self._reject("a missing comma between fields")
        if not saw_content:
            self._reject("no `content` list")

    def _content(self, text: str, pos: int) -> Iterator[dict[str, Any]]:
        while not text.startswith("]", pos):
            item, pos = self._decode(text, pos)
            self.count += 1
            if isinstance(item, dict) and isinstance(item.get("eventId"), int):
                self.max_event_id = max(self.max_event_id or 0, item["eventId"])
            yield item
            pos = self._skip_in(text, pos)
            if text.startswith(",", pos):
                pos = self._skip_in(text, pos + 1)
            elif not text.startswith("]", pos):
                self._reject("a missing comma between events")
        return self._skip_in(text, pos + 1)

    @staticmethod
    def _skip_in(text: str, pos: int) -> int:
        return _WHITESPACE.match(text, pos).end()

    def _expect(self, text: str, pos: int, char: str) -> int:
        if not text.startswith(char, pos):
            self._reject(f"{char!r} expected at character {pos}")
        return self._skip_in(text, pos + 1)

    def _decode(self, text: str, pos: int) -> tuple[Any, int]:
        try:
            return _DECODER.raw_decode(text, pos)
        except ValueError as exc:
            self._reject(f"invalid JSON at character {pos}")
            raise AssertionError from exc  # unreachable: _reject raises

    def _int(self, value: Any) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            self._reject("a lastEventId that is not a number")
            raise AssertionError from None  # unreachable: _reject raises

    def _reject(self, what: str) -> None:
        raise MalformedResponse(f"{self._where} with {what}.", status_code=self._status_code)
