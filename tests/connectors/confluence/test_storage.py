"""Storage-format XHTML reduced to text: macros, links, tasks, tables, entities, broken markup."""

import pytest

from connectors.confluence.storage import storage_to_text

CODE_MACRO = (
    '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">python</ac:parameter>'
    "<ac:plain-text-body><![CDATA[if a < b:\n    print('x')]]></ac:plain-text-body></ac:structured-macro>"
)


@pytest.mark.parametrize(
    ("storage", "text"),
    [
        ("<p>Caf&eacute;&nbsp;menu &amp; more</p>", "Café menu & more"),
        (CODE_MACRO, "if a < b:\nprint('x')"),
        (
            '<ac:structured-macro ac:name="info"><ac:parameter ac:name="title">Careful</ac:parameter>'
            "<ac:rich-text-body><p>Back up first.</p></ac:rich-text-body></ac:structured-macro>",
            "Back up first.",
        ),
        (
            '<p>Intro</p><ac:structured-macro ac:name="toc"><ac:parameter ac:name="maxLevel">2</ac:parameter>'
            "</ac:structured-macro><p>End</p>",
            "Intro\nEnd",
        ),
        (
            '<p>See <ac:link><ri:page ri:content-title="Runbook"/><ac:plain-text-link-body>'
            "<![CDATA[the runbook]]></ac:plain-text-link-body></ac:link> now</p>",
            "See the runbook now",
        ),
        ('<p>See <ac:link><ri:page ri:content-title="Runbook"/></ac:link>.</p>', "See Runbook."),
        ('<p>File <ac:link><ri:attachment ri:filename="plan.pdf"/></ac:link></p>', "File plan.pdf"),
        (
            "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status>"
            "<ac:task-body>Ship</ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id>"
            "<ac:task-status>incomplete</ac:task-status><ac:task-body>Test</ac:task-body></ac:task></ac:task-list>",
            "[x] Ship\n[ ] Test",
        ),
        (
            "<table><tbody><tr><th>Name</th><th>Role</th></tr><tr><td>Ann</td><td>Lead</td></tr></tbody></table>",
            "Name | Role\nAnn | Lead",
        ),
        ('<p>Hi <ac:emoticon ac:name="smile"/> there</p>', "Hi there"),
        ('<p><ac:image ac:alt="Architecture"><ri:attachment ri:filename="a.png"/></ac:image></p>', "Architecture"),
        ("<p>Unclosed <b>bold</p><p>next", "Unclosed bold\nnext"),
        ("", ""),
    ],
)
def test_storage_format_reads_as_clean_text(storage, text):
    assert storage_to_text(storage) == text


def test_macro_parameters_and_placeholders_never_reach_the_text():
    storage = (
        '<ac:structured-macro ac:name="panel"><ac:parameter ac:name="bgColor">#FFF</ac:parameter>'
        "<ac:rich-text-body><p>Panel text</p></ac:rich-text-body></ac:structured-macro>"
        "<p><ac:placeholder>Type here</ac:placeholder></p>"
    )
    text = storage_to_text(storage)
    assert text == "Panel text"
    assert "#FFF" not in text and "Type here" not in text
