"""The HTML-to-text candidates bench/html_text.py times, each behind the same `(markup) -> text` call.

Outputs of converters with their own layout (resiliparse, inscriptis) are folded like ours, so a
difference counted is one of content or layout, not of trailing spaces.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from bench import html_text_lxml as today


def lxml_today() -> Callable[[str | None], str]:
    return today.html_to_text


def scan_then_lexbor() -> Callable[[str | None], str]:
    """Today's html_to_text: the tag scan, and selectolax's lexbor for what the scan leaves."""
    from connectors.html_text import html_to_text

    return html_to_text


def selectolax_lexbor() -> Callable[[str | None], str]:
    """Every document through selectolax's lexbor parser (the scan's fallback alone)."""
    from connectors import html_text

    def convert(markup: str | None) -> str:
        if not markup or not markup.strip():
            return ""
        if not html_text._MARKUP_HINT.search(markup):
            return html_text._fold(markup)
        return html_text._fold(html_text._parsed(markup))

    return convert


def lxml_fast_fold() -> Callable[[str | None], str]:
    """Today's lxml steps with the new module's whitespace folding (to tell the parser's share apart)."""
    from connectors.html_text import _fold

    def convert(markup: str | None) -> str:
        if not markup or not markup.strip():
            return ""
        if not today._MARKUP_HINT.search(markup):
            return _fold(markup)
        root = etree.HTML(markup)
        if root is None:
            return _fold(markup)
        _lxml_layout(root)
        return _fold(etree.tostring(root, method="text", encoding="unicode"))

    return convert


def _lxml_layout(root: etree._Element) -> None:
    """Today's steps between the lxml parse and its text serialisation."""
    etree.strip_elements(root, *today.DROPPED_TAGS, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    for element in root.iter(*today.BLOCK_TAGS):
        element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")
    for element in root.iter(*today.CELL_TAGS):
        element.tail = " | " + (element.tail or "")


def html5_parser_gumbo() -> Callable[[str | None], str]:
    """Gumbo's HTML5 parse into an lxml tree, then today's lxml steps."""
    import html5_parser

    def convert(markup: str | None) -> str:
        if not markup or not markup.strip():
            return ""
        if not today._MARKUP_HINT.search(markup):
            return today._fold(markup)
        root = html5_parser.parse(markup, treebuilder="lxml", sanitize_names=False)
        _lxml_layout(root)
        return today._fold(etree.tostring(root, method="text", encoding="unicode"))

    return convert


def resiliparse_html2text() -> Callable[[str | None], str]:
    from resiliparse.extract.html2text import extract_plain_text

    def convert(markup: str | None) -> str:
        if not markup or not markup.strip():
            return ""
        return today._fold(extract_plain_text(markup, main_content=False, alt_texts=False, links=False))

    return convert


def inscriptis_get_text() -> Callable[[str | None], str]:
    from inscriptis import get_text

    def convert(markup: str | None) -> str:
        if not markup or not markup.strip():
            return ""
        return today._fold(get_text(markup))

    return convert


CANDIDATES: dict[str, Callable[[], Callable[[str | None], str]]] = {
    "lxml (today)": lxml_today,
    "scan + lexbor, new": scan_then_lexbor,
    "selectolax (lexbor) alone": selectolax_lexbor,
    "lxml + new folding": lxml_fast_fold,
    "html5-parser (gumbo) + lxml": html5_parser_gumbo,
    "resiliparse html2text": resiliparse_html2text,
    "inscriptis": inscriptis_get_text,
}
