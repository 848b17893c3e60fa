"""HTML from upstreams becomes readable plain text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import html_text
from connectors.html_text import html_to_text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        (None, ""),
        ("   ", ""),
        ("plain   text\twith  spaces", "plain text with spaces"),
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("Line<br>break", "Line\nbreak"),
        ("<b>bold</b> and <i>italic</i>", "bold and italic"),
        ("Fish &amp; chips &lt;3 &#8364;", "Fish & chips <3 \u20ac"),
        ("<p>kept</p><script>alert(1)</script><style>p{}</style>", "kept"),
        ("<ul><li>a</li><li>b</li></ul>", "a\nb"),
        ("<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table>", "k | v\nx | 1"),
        ("<p>a<!-- hidden -->b</p>", "ab"),
        ("<div><p>deep</p>\n\n\n\n<p>gap</p></div>", "deep\ngap"),
        ("<p>unclosed <b>tags", "unclosed tags"),
    ],
)
def test_html_becomes_clean_text(markup, text):
    assert html_to_text(markup) == text


def test_namespaced_confluence_macros_keep_their_text_by_local_name():
    markup = (
        '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Note this</p>'
        "</ac:rich-text-body></ac:structured-macro>"
    )
    assert html_to_text(markup) == "Note this"


# The layout is marked in the markup before parsing (connectors/html_text.py): these pin the cases that
# marking could get wrong, with the text the lxml version gave for each.
@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<P>One</P><DIV>Two</DIV><Script>x()</Script>", "One\nTwo"),
        ("<table><tr><td>a<td>b<tr><th>c</table>", "a | b\nc"),
        ("<p>x<table><tr><td>1</td><td>2</td></tr></table>y</p>", "x\n1 | 2\ny"),
        ("<table>stray<tr><td>a</td></tr></table>", "stray\na"),
        ("form\ffeed <b>and</b> &#12;entity&#x0C;", "form feed and entity"),
        ('<!-- <p>c</p> --><a title="<p>t</p>">link</a> <tdx>custom</tdx>', "link custom"),
        ("a<br/>b<BR>c", "a\nb\nc"),
        ("<pre>line1\n  line2</pre>", "line1\nline2"),
        ("<html><head><title>T</title></head><body><p>B</p><svg><text>no</text></svg></body></html>", "B"),
        ("text &nbsp;&nbsp; spaced\u00a0out", "text spaced out"),
    ],
)
def test_layout_marks_survive_case_tables_comments_and_form_feeds(markup, text):
    assert html_to_text(markup) == text


# --- the scan and the parser give the same text ---------------------------------------------------------
# Markup is generated from pieces that reach every rule the scan relies on: block, inline, cell and
# table tags, elements only the parser reads, names in any case, attribute values holding quotes, "<",
# ">", "=" and "/", character references (named, numeric, legacy without ";", invalid), stray "<" and
# "&", comments, CR, form feeds and other whitespace.
TAG_NAMES = (
    "p", "div", "li", "ul", "h2", "br", "hr", "pre", "strong", "em", "b", "a", "span", "code", "td", "th",
    "tr", "table", "tbody", "thead", "caption", "col", "colgroup", "script", "style", "title", "textarea",
    "svg", "select", "option", "listing", "head", "body", "html", "ac:link", "tdx", "P", "TD", "Table", "BR",
)  # fmt: skip
ATTRIBUTE_VALUES = ('"x"', "'y'", '"a>b"', "'<p>'", '"q\'uote"', "bare", "a=b", '"', "'", "", "/", "x/", "=")
TEXTS = (
    "word", "two words", " ", "\n", "\t", "\r\n", "\r", "\f", "\v", "\u00a0", "caf\u00e9", "<", ">", "< b", "<3",
    "&", "&amp;", "&amp", "&lt;p&gt;", "&#8364;", "&#x20AC;", "&#12;", "&#12", "&#x0C;", "&#0;", "&#128;",
    "&#xD800;", "&#1114112;", "&notit;", "&nbsp;", "&AMP", "&bogus;", "a&b", "&#", "|", " | ",
)  # fmt: skip


PLAIN_TAG_NAMES = ("p", "div", "li", "ul", "h2", "br", "pre", "strong", "a", "span", "td", "th", "tr", "table",
                   "tbody", "caption", "col", "P", "TD", "Table", "ac:link", "tdx")  # fmt: skip
FLOW_TAG_NAMES = tuple(
    name for name in PLAIN_TAG_NAMES if name.lower() not in ("td", "th", "tr", "table", "tbody", "caption", "col")
)
PLAIN_VALUES = ('"x"', "'y'", "bare", '"a=b&amp;c"', '"/path/"', "'two words'")
HOSTILE_PIECES = ("<!-- c -->", "<!x>", "<?pi?>", "</>", "</ x>", "<<b>", "<p<b>>", "<td\vx>", "\x00")


@st.composite
def tags(draw, names=TAG_NAMES, values=ATTRIBUTE_VALUES, ends=(">", ">", " >", "/>", "")):
    name = draw(st.sampled_from(names))
    keys = st.sampled_from(("href", "class", "x", 'a"b', "=c") if values is ATTRIBUTE_VALUES else ("href", "class"))
    attributes = draw(st.lists(st.tuples(keys, st.sampled_from(values)), max_size=2))
    rendered = "".join(f" {key}={value}" if value else f" {key}" for key, value in attributes)
    closing = draw(st.sampled_from(("", "", "/")))
    return f"<{closing}{name}{rendered}{draw(st.sampled_from(ends))}"


# Markup the scan reads (most examples): well-formed tags, tables, text and references.
PLAIN_MARKUP = st.lists(
    st.one_of(tags(PLAIN_TAG_NAMES, PLAIN_VALUES, (">",)), st.sampled_from(TEXTS)), max_size=40
).map("".join)
FLOW_MARKUP = st.lists(st.one_of(tags(FLOW_TAG_NAMES, PLAIN_VALUES, (">",)), st.sampled_from(TEXTS)), max_size=8).map(
    "".join
)
SPACE_TEXTS = ("", " ", "\n", "\t", "\r\n", "\f")
SPACES = st.sampled_from(SPACE_TEXTS)
# Between a table's tags: mostly whitespace (so that some tables are read by the scan), sometimes what
# the parser moves out of the table or keeps in it.
STRAYS = st.sampled_from(
    SPACE_TEXTS * 30 + ("x", "&amp;", "< 3", "\x01", "\v", "<b>", "</b>", "<p>", "<br>", "</col>", "<col>",
                        "</caption>", "<colgroup>", "</td>", "<tr>", "</table>")
)  # fmt: skip


@st.composite
def tables(draw, depth=0, between=SPACES):
    """A table, its rows and cells closed or not, with whitespace (or `between`) between them."""
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        cells = []
        for _ in range(draw(st.integers(1, 3))):
            inner = draw(FLOW_MARKUP) if depth or draw(st.integers(0, 3)) else draw(tables(1, between))
            cells.append(draw(st.sampled_from(("<td>", "<th>", "<TD class='c'>", "<caption>"))) + inner
                         + draw(st.sampled_from(("</td>", "</th>", "", "</caption>"))) + draw(between))  # fmt: skip
        rows.append(draw(st.sampled_from(("<tr>", "", "<tbody><tr>"))) + draw(between) + "".join(cells)
                    + draw(st.sampled_from(("</tr>", "", "</tbody>"))))  # fmt: skip
    return (
        draw(FLOW_MARKUP)
        + "<table>"
        + draw(between)
        + "".join(rows)
        + draw(st.sampled_from(("</table>", "")))
        + draw(FLOW_MARKUP)
    )


# Markup of every kind: most of it only the parser reads.
ANY_MARKUP = st.lists(st.one_of(tags(), st.sampled_from(TEXTS), st.sampled_from(HOSTILE_PIECES)), max_size=30).map(
    "".join
)


@pytest.mark.parametrize(
    "markup", [PLAIN_MARKUP, tables(), tables(between=STRAYS), ANY_MARKUP], ids=["plain", "tables", "strays", "any"]
)
def test_the_scan_gives_the_parsers_text_or_leaves_the_markup_to_it(markup):
    @given(markup)
    @settings(max_examples=600, derandomize=True, deadline=None, database=None)
    def same_text(markup):
        scanned = html_text._scanned(markup)
        if scanned is not None:
            assert html_text._fold(scanned) == html_text._fold(html_text._parsed(markup))

    same_text()


@pytest.mark.parametrize(
    "markup",
    [
        "<h2>Title</h2><p>Some <strong>bold</strong> text</p><ul><li>one</li><li>two</li></ul>",
        '<p class="lead">A <a href="https://x.example/?a=1&amp;b=2" title=\'t u\'>link</a> &amp; more</p>',
        "<table><tbody>\n<tr><th>k</th><th>v</th></tr>\n<tr><td>x</td><td><table><tr><td>in</td></tr></table></td></tr></tbody></table>",
        "a < b and 3 > 2<br/>next",
    ],
)
def test_the_scan_reads_the_usual_markup_without_the_parser(markup):
    scanned = html_text._scanned(markup)
    assert scanned is not None
    assert html_text._fold(scanned) == html_text._fold(html_text._parsed(markup))


@pytest.mark.parametrize(
    "markup",
    [
        "<table>stray<tr><td>a</td></tr></table>",  # text the parser moves out of the table
        "<table><tr><p>moved</p><td>a</td></tr></table>",
        "<p>a<!-- c -->b</p>",
        "<p>kept</p><script>x()</script>",
        "<p title='x>y'>cut</p",
        '<a title="<p>">quoted less-than</a>',
        "<p<b>>odd name</p>",
        "&am<b></b>p;",
        "nul\x00here<p>x</p>",
        "<textarea><p>raw</p></textarea>",
    ],
)
def test_the_scan_leaves_what_the_tree_builder_moves_or_reads_apart_to_the_parser(markup):
    assert html_text._scanned(markup) is None
    assert html_to_text(markup) == html_text._fold(html_text._parsed(markup))
