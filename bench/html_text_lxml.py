"""Today's HTML-to-text (lxml), kept verbatim as the baseline of bench/html_text.py."""

from __future__ import annotations

import re

from lxml import etree

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
# Runs of spaces that are not already a single " " (matching every lone space would cost a call each).
_SPACES = re.compile(r"[\t\r\f\v\u00a0][ \t\r\f\v\u00a0]*| [ \t\r\f\v\u00a0]+")
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
        # etree.HTML, not lxml.html: the same libxml2 parser without lxml.html's Python element
        # classes, which cost more than the parse itself.
        root = etree.HTML(markup)
    except (etree.ParserError, ValueError):
        return _fold(markup)
    if root is None:
        return _fold(markup)
    etree.strip_elements(root, *DROPPED_TAGS, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    # Line breaks around blocks and " | " after cells go in as text, so lxml's own text serialisation
    # (C, not a Python walk over every element) keeps the layout.
    for element in root.iter(*BLOCK_TAGS):
        element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")
    for element in root.iter(*CELL_TAGS):
        element.tail = " | " + (element.tail or "")
    return _fold(etree.tostring(root, method="text", encoding="unicode"))


def _fold(text: str) -> str:
    """Spaces folded within lines; empty lines (block boundaries, source indentation) dropped."""
    # One substitution over the whole text (the pattern never matches a newline), not one per line.
    lines = (line.strip(" |") for line in _SPACES.sub(" ", text).split("\n"))
    return "\n".join(line for line in lines if line)
