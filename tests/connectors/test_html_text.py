"""HTML from upstreams becomes readable plain text."""

import pytest

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
