"""Confluence storage format (XHTML with ac:/ri: elements) reduced to clean text.

The storage format is XML with Confluence's own namespaces, CDATA sections in code macros and
HTML's named entities. It is parsed as XML so that macro parameters, CDATA and links can be
told apart, rewritten into plain HTML, and then reduced by the shared `html_to_text`.
"""

from __future__ import annotations

import html.entities
import re

from lxml import etree

from connectors.html_text import html_to_text

AC = "http://atlassian.com/content"
RI = "http://atlassian.com/resource/identifier"
_ROOT_OPEN = f'<storage-root xmlns:ac="{AC}" xmlns:ri="{RI}">'
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
# Macros whose output is generated or decorative: no text of their own worth keeping.
DROPPED_MACROS = frozenset(
    {"toc", "children", "pagetree", "recently-updated", "contentbylabel", "attachments", "anchor", "jira"}
)
# ac: elements that only configure something; their text is never content.
DROPPED_ELEMENTS = frozenset({"parameter", "placeholder", "emoticon", "task-id", "task-uuid", "adf-attribute"})
_PARSER = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)


def _numeric_entities(markup: str) -> str:
    """HTML's named entities (&nbsp;, &eacute;) as numeric ones, which XML understands."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES:
            return match.group(0)
        codepoint = html.entities.name2codepoint.get(name)
        return f"&#{codepoint};" if codepoint else match.group(0)

    return _NAMED_ENTITY.sub(replace, markup)


def storage_to_text(storage: str | None) -> str:
    """Readable text of a page body in storage format; macros and tables handled sensibly."""
    if not storage or not storage.strip():
        return ""
    root = etree.fromstring((_ROOT_OPEN + _numeric_entities(storage) + "</storage-root>").encode(), _PARSER)
    if root is None:  # beyond recovery: fall back to the HTML reading
        return html_to_text(storage)
    _rewrite(root)
    return html_to_text(etree.tostring(root, encoding="unicode", method="html"))


def _local(element: etree._Element) -> tuple[str, str]:
    """(namespace, local name) of an element; ("", "") for comments and processing instructions."""
    tag = element.tag
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):  # lxml's "{namespace}local" (its QName object costs more than the split)
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _rewrite(root: etree._Element) -> None:
    """Turn every ac:/ri: element into plain HTML (or drop it), in document order."""
    # lxml finds the ac:/ri: elements in C; the list is taken first, as the rewrite moves them.
    for element in list(root.iter(f"{{{AC}}}*", f"{{{RI}}}*")):
        namespace, name = _local(element)
        if namespace == AC:
            _rewrite_ac(element, name)
        elif namespace == RI:
            _replace_with_text(element, _resource_label(element))


def _rewrite_ac(element: etree._Element, name: str) -> None:
    if name in DROPPED_ELEMENTS:
        _replace_with_text(element, "")
    elif name == "structured-macro" or name == "macro":
        macro = element.get(f"{{{AC}}}name", "")
        if macro in DROPPED_MACROS:
            _replace_with_text(element, "")
        else:
            element.tag = "pre" if macro in ("code", "noformat") else "div"
    elif name == "plain-text-body":
        element.tag = "div"  # CDATA became ordinary text when parsed
    elif name == "link":
        _rewrite_link(element)
    elif name == "image":
        alt = element.get(f"{{{AC}}}alt") or element.get(f"{{{AC}}}title") or ""
        _replace_with_text(element, alt)
    elif name == "task":
        done = (element.findtext(f"{{{AC}}}task-status") or "").strip() == "complete"
        for status in element.findall(f"{{{AC}}}task-status"):
            _replace_with_text(status, "")
        element.tag = "li"
        element.text = ("[x] " if done else "[ ] ") + (element.text or "")
    elif name == "task-list":
        element.tag = "ul"
    else:  # rich-text-body, layout sections and cells, task-body, link bodies: keep the content
        element.tag = "div" if name.startswith("layout") or name == "rich-text-body" else "span"


def _rewrite_link(element: etree._Element) -> None:
    """A link reads as its own text, else the title or file name of what it points to."""
    body = element.find(f"{{{AC}}}plain-text-link-body")
    rich = element.find(f"{{{AC}}}link-body")
    if body is not None and (body.text or "").strip():
        label = body.text.strip()
    elif rich is not None and "".join(rich.itertext()).strip():
        label = " ".join("".join(rich.itertext()).split())
    else:
        targets = [child for child in element if _local(child)[0] == RI]
        label = _resource_label(targets[0]) if targets else ""
    _replace_with_text(element, label)


def _resource_label(element: etree._Element) -> str:
    for attribute in ("content-title", "filename", "space-key", "value"):
        if value := element.get(f"{{{RI}}}{attribute}"):
            return value
    return ""


def _replace_with_text(element: etree._Element, text: str) -> None:
    """Remove `element`, leaving `text` and its tail where it stood."""
    parent = element.getparent()
    if parent is None:
        return
    joined = text + (element.tail or "")
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + joined
    else:
        parent.text = (parent.text or "") + joined
    parent.remove(element)
