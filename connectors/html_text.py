"""Upstream HTML reduced to clean, readable plain text for the knowledge base (lxml does the parsing)."""

from __future__ import annotations

import re

from lxml import etree, html

# Elements whose text is never content.
DROPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "svg", "iframe", "object"})
# Elements that start a new line: their text is not glued to the text around them.
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
        "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul", "caption",
    }
)  # fmt: skip
CELL_TAGS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_MARKUP_HINT = re.compile(r"<[A-Za-z!/]|&[#A-Za-z0-9]+;")


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment or document: blocks on their own lines, table cells
    separated by " | ", scripts and styles dropped, entities decoded, whitespace folded.

    Text with no tags or entities is returned folded, without parsing (the common case for
    fields that are plain text most of the time).
    """
    if not markup or not markup.strip():
        return ""
    if not _MARKUP_HINT.search(markup):
        return _fold(markup)
    try:
        root = html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return _fold(markup)
    pieces: list[str] = []
    _walk(root, pieces)
    return _fold("".join(pieces))


def _walk(element: etree._Element, pieces: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    tag = tag.rpartition("}")[2].lower()  # namespaced tags (e.g. Confluence's ac:*) by local name
    if tag in DROPPED_TAGS or not isinstance(element.tag, str):
        # Comments and processing instructions carry no text, but their tail does.
        if element.tail:
            pieces.append(element.tail)
        return
    if tag in BLOCK_TAGS:
        pieces.append("\n")
    elif tag == "br":
        pieces.append("\n")
    if element.text:
        pieces.append(element.text)
    for child in element:
        _walk(child, pieces)
    if tag in CELL_TAGS:
        pieces.append(" | ")
    elif tag in BLOCK_TAGS:
        pieces.append("\n")
    if element.tail:
        pieces.append(element.tail)


def _fold(text: str) -> str:
    """Spaces folded within lines; empty lines (block boundaries, source indentation) dropped."""
    lines = (_SPACES.sub(" ", line).strip(" |") for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
