"""Haiilo events to knowledge records: per-type mappings, a generic one, languages, links, filters.

Decisions (documented in README, "Haiilo"):
- One entry per (entity type, entity id): external id `"{entityType}:{entityId}"`.
- Multilingual maps give one entry in `defaultLanguage` (falling back to English, then to the first
  language present); the other languages are kept in `metadata["translations"]`.
- Drafts, deleted, hidden, inactive and non-public items are skipped (counted in `records_skipped`)
  and any entry an earlier sync made of them is tombstoned: the newest state wins.
- `user` is kept as a small profile entry (people search is a use case Haiilo names).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from string import Formatter
from typing import Any
from urllib.parse import quote

from connectors.base import Record, Skipped
from connectors.html_text import html_to_text

# Statuses whose items are not content anyone should find (Haiilo's docs name DRAFT for articles,
# ACTIVE|INACTIVE|HIDDEN|DELETED for users and VISIBLE|HIDDEN for timeline items).
SKIPPED_STATUSES = frozenset({"DRAFT", "DELETED", "HIDDEN", "INACTIVE", "SCHEDULED", "PENDING"})
PUBLIC_VISIBILITIES = frozenset({"PUBLIC"})
FALLBACK_LANGUAGE = "en"
TITLE_FIELDS = ("title", "name", "displayName", "subject", "label")
TEXT_FIELDS = ("textContent", "description", "text", "content", "body", "teaserText", "teaser")
TITLE_FROM_TEXT_CHARS = 80

# Deep links: Haiilo's `target` names and the frontend route each leads to. The parameter names
# are the ones the seed shows (`appId`, `articleId`); `senderId` is the page or workspace.
TARGET_ROUTES: dict[str, str] = {
    "user": "/profile/{slug}",
    "profile": "/profile/{slug}",
    "page": "/pages/{slug}",
    "workspace": "/workspaces/{slug}",
    "app": "/apps/{appId}",
    "blog_article_detail": "/apps/{appId}/articles/{articleId}",
    "blog-article": "/apps/{appId}/articles/{articleId}",
    "wiki_article_detail": "/apps/{appId}/wiki/{articleId}",
    "file_detail": "/files/{fileId}",
    "file": "/files/{fileId}",
    "timeline_item": "/timeline/items/{itemId}",
    "timeline-item": "/timeline/items/{itemId}",
}
# Parameters that may stand in for the ones a route names, in order.
PARAM_ALIASES: dict[str, tuple[str, ...]] = {
    "slug": ("slug", "id", "userId", "pageId", "workspaceId", "senderId"),
    "appId": ("appId", "id"),
    "articleId": ("articleId", "id"),
    "fileId": ("fileId", "id"),
    "itemId": ("itemId", "timelineItemId", "id"),
}
# Per target name: its route and, for each placeholder the route names, the parameters to look for.
_ROUTE_PLACEHOLDERS: dict[str, tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    name: (route, tuple((field, PARAM_ALIASES[field]) for _, field, _, _ in Formatter().parse(route) if field))
    for name, route in TARGET_ROUTES.items()
}


# What quote(value, safe="") leaves as it is (RFC 3986's unreserved characters).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")

Mapped = Record | Skipped


def external_id_of(entity_type: str, entity_id: str) -> str:
    return f"{entity_type}:{entity_id}"


def localized(value: Any, language: str) -> tuple[str, str, dict[str, str]]:
    """A possibly multilingual value as (text, language used, the other languages' texts)."""
    if value is None:
        return "", "", {}
    if not isinstance(value, dict):
        return str(value), "", {}
    texts = {lang: str(text) for lang, text in value.items() if text}
    if not texts:
        return "", "", {}
    chosen = language if language in texts else FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in texts else next(iter(texts))
    others = {lang: text for lang, text in texts.items() if lang != chosen}
    return texts[chosen], chosen, others


def parse_when(value: Any) -> datetime | None:
    """Haiilo dates: ISO 8601 strings or epoch milliseconds."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        parsed = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def deep_link(base_url: str, target: Any) -> str:
    """The frontend URL of a `target` ({name, params}); an explicit `url` in it wins."""
    if not isinstance(target, dict):
        return ""
    explicit = target.get("url") or target.get("link")
    if isinstance(explicit, str) and explicit:
        return explicit if "://" in explicit else f"{base_url}/{explicit.lstrip('/')}"
    known = _ROUTE_PLACEHOLDERS.get(str(target.get("name") or ""))
    if known is None:
        return ""
    route, placeholders = known
    params = target.get("params")
    if not isinstance(params, dict):
        params = {}
    values: dict[str, str] = {}
    for placeholder, aliases in placeholders:
        for alias in aliases:  # a loop, not next() over a generator: this runs for every event
            if found := params.get(alias):
                values[placeholder] = _path_segment(str(found))
                break
        else:
            return ""
    return base_url + route.format(**values)


def _path_segment(value: str) -> str:
    """`value` percent-encoded as one path segment; an id of unreserved characters only (letters,
    digits, "-._~": a UUID, a number) is one already, and quote() costs more than the check."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def skip_reason(event: dict[str, Any]) -> str | None:
    """Why an entity must not be in the knowledge base, or None when it may be."""
    status = event.get("status")
    if isinstance(status, str) and status.upper() in SKIPPED_STATUSES:
        return f"status {status.upper()}"
    visibility = event.get("visibility")
    if isinstance(visibility, str) and visibility.upper() not in PUBLIC_VISIBILITIES:
        return f"visibility {visibility.upper()}"
    if event.get("active") is False or event.get("enabled") is False:
        return "inactive or disabled"
    return None


def sender_name(sender: Any) -> str:
    """A SenderReference ({id, type}, sometimes with a name) as an author string."""
    if isinstance(sender, dict):
        return str(sender.get("displayName") or sender.get("name") or sender.get("id") or "")
    return str(sender or "")


@dataclass(frozen=True)
class Parts:
    """What a type mapping extracts; `record_from` turns it into a Record."""

    title: str
    text: str
    html: str | None = None
    language: str = ""
    translations: dict[str, dict[str, str]] | None = None
    author: str = ""
    extra: dict[str, Any] | None = None


def _text_and_title(event: dict[str, Any], title_field: str | None, text_field: str | None, **more: Any) -> Parts:
    """Title and text of the default language, with the other languages as translations; `more`: the
    type's other parts (built in one go: dataclasses.replace after it costs a tenth of the mapping)."""
    language = str(event.get("defaultLanguage") or "")
    title, title_lang, other_titles = localized(event.get(title_field) if title_field else None, language)
    body, body_lang, other_bodies = localized(event.get(text_field) if text_field else None, language)
    translations: dict[str, dict[str, str]] = {}
    for lang, other in other_titles.items():
        translations.setdefault(lang, {})["title"] = other
    for lang, other in other_bodies.items():
        translations.setdefault(lang, {})["text"] = html_to_text(other)
    has_markup = "<" in body
    return Parts(
        title=title.strip(),
        text=html_to_text(body),
        html=body if has_markup else None,
        language=title_lang or body_lang or language,
        translations=translations or None,
        **more,
    )


def map_user(event: dict[str, Any]) -> Parts:
    name = event.get("displayName") or " ".join(p for p in (event.get("firstName"), event.get("lastName")) if p)
    properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
    lines = [f"Email: {event['email']}"] if event.get("email") else []
    for key, label in (("jobTitle", "Job title"), ("department", "Department"), ("location", "Location")):
        if properties.get(key):
            lines.append(f"{label}: {properties[key]}")
    locale = str(event.get("locale") or "")
    return Parts(title=str(name or event.get("email") or ""), text="\n".join(lines), language=locale.split("_")[0])


def map_app(event: dict[str, Any]) -> Parts:
    return _text_and_title(event, "name", "textContent", extra={"app_type": event.get("type")})


def map_blog_article(event: dict[str, Any]) -> Parts:
    extra = {"app_id": event.get("appId"), "published_at": event.get("publishDate")}
    parts = _text_and_title(event, "title", "textContent", author=sender_name(event.get("author")), extra=extra)
    if not parts.text:
        parts = replace(parts, text=localized(event.get("teaserText"), parts.language)[0])
    return parts


def map_page_or_workspace(event: dict[str, Any]) -> Parts:
    return _text_and_title(event, "name", "description")


def map_file(event: dict[str, Any]) -> Parts:
    reference = event.get("currentVersionBlobReference")
    # The version is part of what the entry shows, so a new version of the file changes its hash and
    # destinations are offered the entry (and its new file) again.
    version = f"{reference.get('groupId')}/{reference.get('uid')}" if isinstance(reference, dict) else None
    extra = {"content_type": event.get("contentType"), "size": event.get("size"), "file_version": version}
    title_field = "name" if event.get("name") else "title"
    return _text_and_title(event, title_field, "description", author=sender_name(event.get("author")), extra=extra)


def map_timeline_item(event: dict[str, Any]) -> Parts:
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    raw = data.get("message") or data.get("text") or data.get("content") or ""
    body, language, _ = localized(raw, str(event.get("defaultLanguage") or ""))
    text = html_to_text(body)
    names = [a.get("name") for a in event.get("attachments") or [] if isinstance(a, dict) and a.get("name")]
    if names:
        text = f"{text}\nAttachments: {', '.join(names)}".strip()
    author = sender_name(event.get("author"))
    first_line = text.split("\n", 1)[0]
    title = first_line[:TITLE_FROM_TEXT_CHARS] or (f"Post by {author}" if author else "Timeline post")
    extra = {"item_type": event.get("itemType")}
    return Parts(
        title=title, text=text, html=body if "<" in body else None, language=language, author=author, extra=extra
    )


def map_generic(event: dict[str, Any]) -> Parts:
    """Any other type: the first title-like and text-like fields it has."""
    title_field = next((f for f in TITLE_FIELDS if event.get(f)), None)
    text_field = next((f for f in TEXT_FIELDS if event.get(f)), None)
    parts = _text_and_title(
        event, title_field, text_field, author=sender_name(event.get("author") or event.get("sender"))
    )
    if not parts.title and parts.text:
        parts = replace(parts, title=parts.text.split("\n", 1)[0][:TITLE_FROM_TEXT_CHARS])
    return parts


TYPE_MAPPINGS: dict[str, Callable[[dict[str, Any]], Parts]] = {
    "user": map_user,
    "app": map_app,
    "blog-article": map_blog_article,
    "page": map_page_or_workspace,
    "workspace": map_page_or_workspace,
    "file": map_file,
    "timeline-item": map_timeline_item,
}
SUPPORTED_TYPES: tuple[str, ...] = tuple(TYPE_MAPPINGS)


def record_from_event(entity_type: str, event: dict[str, Any], base_url: str) -> Mapped:
    """A CREATE or UPDATE event as the record of its entity's newest state, or why it is skipped."""
    entity_id = str(event.get("entityId") or event.get("id") or "")
    external_id = external_id_of(entity_type, entity_id)
    reason = skip_reason(event)
    if reason is not None:
        return Skipped(external_id, reason)
    parts = TYPE_MAPPINGS.get(entity_type, map_generic)(event)
    metadata: dict[str, Any] = {"entity_type": entity_type, "entity_id": entity_id}
    if parts.translations:
        metadata["translations"] = parts.translations
    if parts.extra:
        metadata.update((k, v) for k, v in parts.extra.items() if v is not None)
    target = event.get("target")
    if target:
        metadata["target"] = target
    return Record(
        external_id=external_id,
        title=parts.title,
        content=parts.text,
        html=parts.html,
        url=deep_link(base_url, target),
        author=parts.author,
        language=parts.language,
        metadata=metadata,
        source_created_at=parse_when(event.get("createdDate")),
        source_updated_at=parse_when(event.get("modifiedDate")),
    )
