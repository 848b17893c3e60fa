"""An entry as a Leena article: reference_id, name, and HTML cleaned by nh3."""

from __future__ import annotations

import pytest

from connectors.leena.articles import article_of, html_content, reference_id
from tests.connectors.leena.conftest import snapshot


def test_reference_id_is_the_entry_id_and_its_language_or_the_configs():
    entry = snapshot("T")
    assert reference_id(entry, "en") == f"{entry.id}$en"
    assert reference_id(snapshot("T", id=entry.id, language="de"), "en") == f"{entry.id}$de"
    assert reference_id(snapshot("T", id=entry.id, language="x$y"), "en") == f"{entry.id}$xy"  # one `$` only


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>ok<script>steal()</script></p>", "<p>ok</p>"),
        ("<style>p{}</style><p>styled</p>", "<p>styled</p>"),
        ('<p onmouseover="x()" style="color:red">hover</p>', "<p>hover</p>"),
        ('<a href="javascript:alert(1)">js</a>', '<a rel="noopener noreferrer">js</a>'),
        ('<a href="JaVaScRiPt:alert(1)">js</a>', '<a rel="noopener noreferrer">js</a>'),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="a">x', '<img alt="a">x'),
        ("<iframe src='https://evil.example'>inside</iframe><p>after</p>", "<p>after</p>"),
        ("<table><tr><td>cell</td></tr></table>", "<table><tbody><tr><td>cell</td></tr></tbody></table>"),
    ],
)
def test_html_is_cleaned_of_scripts_styles_handlers_and_javascript_links(markup, expected):
    assert html_content(snapshot("T", html=markup)) == expected


def test_an_entry_whose_html_cleans_to_nothing_falls_back_to_its_text():
    assert html_content(snapshot("T", "a < b", html="<script>x()</script>")) == "<p>a &lt; b</p>"


def test_an_entry_without_title_is_named_by_its_first_line():
    article = article_of(snapshot("", "First line\nsecond"), "en", ["att-1"])
    assert article["name"] == "First line" and article["attachments"] == ["att-1"]
    assert article["html_content"] == "<p>First line<br>second</p>"
