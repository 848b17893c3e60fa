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
