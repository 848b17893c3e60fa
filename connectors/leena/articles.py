"""An entry as a Leena article: its reference_id, name and cleaned HTML."""

from __future__ import annotations

import html
import re

import nh3

from connectors.base import EntrySnapshot
from connectors.leena.api import REFERENCE_SEPARATOR

NAME_MAX_CHARS = 255
# Removed with their content, not just their tags (nh3 keeps the text of a tag it drops otherwise).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "noscript", "iframe", "object", "embed"})
# Links and images may only point to these; `javascript:` and `data:` are dropped with the attribute.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def reference_id(entry: EntrySnapshot, default_language: str) -> str:
    """`<ArticleId>$<Language>`: the entry's id (a UUID, stable across runs, no `$`) and its language."""
    language = (entry.language or default_language).replace(REFERENCE_SEPARATOR, "").strip() or default_language
    return f"{entry.id}{REFERENCE_SEPARATOR}{language}"


def has_content(entry: EntrySnapshot) -> bool:
    return bool(entry.title.strip() or entry.content.strip())


def article_name(entry: EntrySnapshot) -> str:
    """The title; an entry without one is named by the first line of its text."""
    name = entry.title.strip() or entry.content.strip().splitlines()[0]
    return name[:NAME_MAX_CHARS]


def sanitised_html(markup: str) -> str:
    """The HTML cleaned by nh3 (ammonia): no scripts, styles, event handlers or `javascript:` links."""
    return nh3.clean(
        markup,
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    ).strip()


def text_as_paragraphs(text: str) -> str:
    """Plain text as escaped paragraphs, its single line breaks kept as <br>."""
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def html_content(entry: EntrySnapshot) -> str:
    """The entry's HTML cleaned, or its text as paragraphs when it has no HTML (or none survives)."""
    cleaned = sanitised_html(entry.html) if entry.html else ""
    if re.sub(r"<[^>]*>", "", cleaned).strip():
        return cleaned
    return text_as_paragraphs(entry.content) or text_as_paragraphs(entry.title)


def article_of(entry: EntrySnapshot, default_language: str, attachment_ids: list[str]) -> dict[str, object]:
    """The item of `{"articles": [...]}` for this entry."""
    return {
        "reference_id": reference_id(entry, default_language),
        "name": article_name(entry),
        "html_content": html_content(entry),
        "attachments": attachment_ids,
    }
