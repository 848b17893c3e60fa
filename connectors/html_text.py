"""Upstream HTML reduced to clean, readable plain text for the knowledge base.

Two readings give the same text. Most upstream HTML is simple (paragraphs, lists, emphasis, headings,
well-formed tables), and for it an HTML5 parser's tree holds the markup's text in source order: each
tag can be replaced by its layout mark ("\\n" for a block, a cell mark for a cell, nothing otherwise)
and the character references decoded, with no tree built (`_scanned`: half the parser's time on the
Haiilo bench's bodies). Everything else goes to selectolax's lexbor parser (`_parsed`), with the
same marks put in the markup first so that its C text serialisation does the walk and no Python code
runs per element.

The scan takes a tag only when its form leaves no doubt where the tokenizer ends it (quoted values
without "<" or ">", no quotes or "=" elsewhere), and leaves to the parser whatever the tree builder
moves, drops or reads in a state of its own: comments, doctypes, CDATA and processing instructions,
raw-text and foreign elements (script, style, title, textarea, svg, math...), select, head, frames,
a tag cut short, NUL, a character reference a tag splits, and any text or tag that would be moved out
of a table (foster parenting). tests/connectors/test_html_text.py holds both readings to each other
on generated markup; bench/html_text.py times them against the lxml version this replaced.
"""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser

# Elements whose text is never content (removed with everything inside them).
DROPPED_TAGS = ["script", "style", "noscript", "template", "head", "title", "svg", "iframe", "object"]
# Elements that start a new line: their text is not glued to the text around them.
BLOCK_TAGS = (
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul", "caption",
)  # fmt: skip
CELL_TAGS = ("td", "th")
# "\n" stands for a line break, "\f" (form feed, otherwise folded to a space) for a cell boundary. In
# the parser's markup they go in as whitespace, the only text HTML5 leaves in place inside tables.
_CELL_MARK = "\f"
_BLOCK_NAMES = frozenset((*BLOCK_TAGS, "br"))  # </br> is read as <br>
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
    text = _scanned(markup)
    return _fold(text if text is not None else _parsed(markup))


# --- the scan -------------------------------------------------------------------------------------------
# Elements the scan leaves to the parser: dropped, raw text, foreign, or placed by rules of their own.
_PARSER_ONLY = frozenset(
    {*DROPPED_TAGS, "textarea", "xmp", "noembed", "noframes", "plaintext", "math", "select", "frameset",
     "frame", "html", "body", "listing", "image", "isindex"}
)  # fmt: skip
# A "<" and what follows it up to the next ">" (or the next "<", or the end): a tag, or text. Possessive:
# giving characters back could never make a longer match, and not keeping them to give back is faster.
_SPANS = re.compile(r"(<[^<>]*+>?)")
# A tag whose end is beyond doubt: names without quotes, "=" or "<"; values quoted without "<" or ">",
# or unquoted without quotes or "=". (The tokenizer reads more; the rest goes to the parser.)
_PLAIN_TAG = re.compile(
    r"""<(/?)([A-Za-z][^\t\n\f />"'=<]*+)"""
    r"""(?:[\t\n\f /]++(?:[^\t\n\f />"'=<]++"""
    r"""(?:[\t\n\f ]*+=[\t\n\f ]*+(?:"[^"<>]*+"|'[^'<>]*+'|[^\t\n\f <>"'=`]++))?+)?+)*+>"""
)
_TABLE_OPEN = re.compile(r"<[tT][aA][bB][lL][eE](?![^\t\n\f />])")
# The table's tags, by what the parser does after them. Among a table's rows (not in a cell or
# caption), text or a tag other than a table's is moved out of the table (foster parenting).
_TABLE_PARTS = frozenset({"table", "caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "td", "th"})
_AMONG_ROWS_AFTER_OPENING = frozenset({"table", "tbody", "thead", "tfoot", "tr", "colgroup", "col"})
_AMONG_ROWS_AFTER_CLOSING = frozenset({"tbody", "thead", "tfoot", "tr", "colgroup", "td", "th", "caption"})
# In a table, each tag's mark ends with a sentinel of its role, a character the scanned markup cannot
# hold (NUL and CR never reach the join; SOH sends the markup to the parser), so that one search of
# the joined text finds text or a non-table tag after, past whitespace, a tag among rows.
_AMONG_ROWS, _IN_TABLE, _NOT_IN_TABLE = "\x00", "\r", "\x01"
_MOVED_OUT_OF_TABLE = re.compile(r"\x00[\t\n\f ]*+[^\x00\r\t\n\f ]")
_REFERENCE_BEFORE_TAG = re.compile(r"&[#0-9A-Za-z]*<")  # a tag inside "&...;" would join its halves
_PARSER = None  # the mark of a span only the parser can read


def _scanned(markup: str) -> str | None:
    """The parser's text of `markup` with the layout marks in place, read without a parser; None when
    only the parser can tell (see the module)."""
    if "\x00" in markup or ("&" in markup and _REFERENCE_BEFORE_TAG.search(markup)):
        return None
    if "\r" in markup:  # the parser's input preprocessing
        markup = markup.replace("\r\n", "\n").replace("\r", "\n")
    cells = "<t" in markup or "<T" in markup
    if cells and _CELL_MARK in markup:  # a form feed of the source is a space, not a cell
        markup = markup.replace(_CELL_MARK, " ")
    in_table = cells and _TABLE_OPEN.search(markup) is not None
    if in_table and _NOT_IN_TABLE in markup:
        return None
    parts = _SPANS.split(markup)  # text, span, text, span, ..., text
    span_marks = _TABLE_SPAN_MARKS if in_table else _SPAN_MARKS
    marks = [span_marks[span] for span in parts[1::2]]
    if _PARSER in marks:
        return None
    parts[1::2] = marks
    text = "".join(parts)
    if in_table:
        if _MOVED_OUT_OF_TABLE.search(text):
            return None
        text = text.replace(_AMONG_ROWS, "").replace(_IN_TABLE, "").replace(_NOT_IN_TABLE, "")
    if cells:
        text = text.replace(_CELL_MARK, " | ")
    return html.unescape(text) if "&" in text else text


def _mark_of(span: str) -> str | None:
    """What a span becomes: a tag its layout mark, text itself; _PARSER when the scan cannot tell."""
    first = span[1:2]
    if first == "/":
        if not _is_ascii_letter(span[2:3]):  # "</>" and "</ x>" are bogus comments
            return _PARSER
    elif first in ("!", "?"):
        return _PARSER
    elif not _is_ascii_letter(first):  # a "<" that starts no tag is text
        return span
    tag = _PLAIN_TAG.fullmatch(span)
    if tag is None:
        return _PARSER
    name = tag.group(2).lower()
    if name in _PARSER_ONLY:
        return _PARSER
    if name in _BLOCK_NAMES:
        return "\n"
    return _CELL_MARK if name in CELL_TAGS and not tag.group(1) else ""


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _table_mark_of(span: str) -> str | None:
    """The span's mark, and for a tag the sentinel of its role in a table."""
    mark = _mark_of(span)
    if mark is _PARSER or mark is span:  # text has no role
        return mark
    tag = _PLAIN_TAG.fullmatch(span)
    name = tag.group(2).lower()
    if name not in _TABLE_PARTS:
        return mark + _NOT_IN_TABLE
    among_rows = _AMONG_ROWS_AFTER_CLOSING if tag.group(1) else _AMONG_ROWS_AFTER_OPENING
    return mark + (_AMONG_ROWS if name in among_rows else _IN_TABLE)


class _SpanCache(dict):
    """What each span seen reads as: most markup repeats a few tags, so each is read once."""

    LIMIT = 4096  # spans kept; then forgotten at once (a value holding links makes many unique spans)

    def __init__(self, read) -> None:
        super().__init__()
        self.read = read

    def __missing__(self, span: str) -> str | None:
        value = self.read(span)
        if len(self) >= self.LIMIT:
            self.clear()
        self[span] = value
        return value


_SPAN_MARKS = _SpanCache(_mark_of)
_TABLE_SPAN_MARKS = _SpanCache(_table_mark_of)


# --- the parser -----------------------------------------------------------------------------------------
_FORM_FEED = re.compile(r"\f|&#0*12(?![0-9]);?|&#[xX]0*[cC](?![0-9A-Fa-f]);?")  # a reference reads every digit
_BLOCK_ALTERNATIVES = "|".join(sorted(_BLOCK_NAMES, key=len, reverse=True))  # longest first: "h1" before "hr"
_BLOCK_TAG_OPEN = re.compile(rf"<(?=/?(?:{_BLOCK_ALTERNATIVES})[\t\n\f />])")
_CELL_TAG_OPEN = re.compile(r"<(?=t[dh][\t\n\f />])")
_DROPPED_TAG_OPEN = re.compile(rf"<(?:{'|'.join(DROPPED_TAGS)})[\t\n\f />]")
# A tag name with a capital letter: then all are lowered, so the case-sensitive (three times as fast)
# markers find them.
_CAPITAL_TAG = re.compile(r"</?[a-z0-9:-]*[A-Z]")
_TAG_NAME = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*")


def _parsed(markup: str) -> str:
    """The parser's text of `markup`, with the layout marks put in the markup before parsing."""
    markup = _marked(markup)
    tree = LexborHTMLParser(markup)
    if _DROPPED_TAG_OPEN.search(markup):  # only when there is one (comments never reach text())
        tree.strip_tags(DROPPED_TAGS, recursive=True)
    return tree.text().replace(_CELL_MARK, " | ")


def _marked(markup: str) -> str:
    """The markup with "\\n" before every block tag (opening and closing) and <br>, "\\f" before every cell."""
    if _CELL_MARK in markup or "&#" in markup:  # a form feed of the source is a space, not a cell
        markup = _FORM_FEED.sub(" ", markup)
    if _CAPITAL_TAG.search(markup):
        markup = _TAG_NAME.sub(lambda name: name.group(0).lower(), markup)
    markup = _BLOCK_TAG_OPEN.sub("\n<", markup)
    if "<t" in markup:
        markup = _CELL_TAG_OPEN.sub(_CELL_MARK + "<", markup)
    return markup


# --- folding --------------------------------------------------------------------------------------------
# Runs of spaces that are not already a single " " (most texts have none: see _has_space_run).
_SPACE_RUN = re.compile(r"[\t\r\f\v\u00a0][ \t\r\f\v\u00a0]*| [ \t\r\f\v\u00a0]+")


def _fold(text: str) -> str:
    """Spaces folded within lines; leading and trailing spaces and pipes dropped; empty lines dropped."""
    if _has_space_run(text):
        text = _SPACE_RUN.sub(" ", text)
    return "\n".join(filter(None, [line.strip(" |") for line in text.split("\n")]))


def _has_space_run(text: str) -> bool:
    """Whether _SPACE_RUN can match: six C substring scans cost less than one regex scan."""
    return "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text or "\u00a0" in text
