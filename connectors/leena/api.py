"""Our reading of Leena's KM REST API: the paths and the response shapes, kept in one place.

Leena publishes no machine-readable description. The seed's table is jumbled (it skips a step and
names the article call both `upload/` and `upload-articles`); the order and paths below follow
Leena's integration guide: attachments to `upload/`, articles to `sync/`, then `sync/complete/`.
The bodies of those three answers are not published either: the shapes read here are ours, so a
correction is one line in this module (see the README's Leena section).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.errors import UpstreamRejected

TOKEN_PATH = "/api/v1.0/oauth/token"
ATTACHMENT_UPLOAD_PATH = "/api/integration/articles/upload/"
ARTICLES_SYNC_PATH = "/api/integration/articles/sync/"
SYNC_COMPLETE_PATH = "/api/integration/articles/sync/complete/"

# The multipart field an attachment travels in.
ATTACHMENT_FIELD = "file"
# `reference_id` is `<ArticleId>$<Language>`.
REFERENCE_SEPARATOR = "$"
# The seed: tokens "expire every 30m".
DEFAULT_TOKEN_SECONDS = 1800.0
RESULT_SUCCESS = "success"


@dataclass(frozen=True)
class IssuedToken:
    """`{"access_token", "token_type", "expires_in"}`."""

    access_token: str
    expires_in: float


@dataclass(frozen=True)
class ArticleResult:
    """One item of `{"results": [{"reference_id", "status": "success" | "failed", "message"}]}`."""

    reference_id: str
    succeeded: bool
    message: str


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise UpstreamRejected(f"Leena's {what} answer is not a JSON object.")
    return body


def token_of(body: Any) -> IssuedToken:
    body = _object(body, "token")
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise UpstreamRejected("Leena's token answer carries no access_token.")
    try:
        expires_in = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
    except (TypeError, ValueError):
        expires_in = DEFAULT_TOKEN_SECONDS
    return IssuedToken(body["access_token"], max(expires_in, 1.0))


def attachment_id_of(body: Any) -> str:
    """`{"attachment_id": "…"}`."""
    attachment_id = _object(body, "attachment upload").get("attachment_id")
    if attachment_id in (None, ""):
        raise UpstreamRejected("Leena's attachment upload answer carries no attachment_id.")
    return str(attachment_id)


def article_results_of(body: Any) -> dict[str, ArticleResult]:
    """The results by reference_id; an item without one is ignored (the article then has no answer)."""
    results = _object(body, "article sync").get("results")
    if not isinstance(results, list):
        raise UpstreamRejected("Leena's article sync answer carries no results list.")
    by_reference: dict[str, ArticleResult] = {}
    for item in results:
        if isinstance(item, dict) and isinstance(item.get("reference_id"), str):
            status = str(item.get("status") or "").lower()
            message = str(item.get("message") or "")[:500]
            by_reference[item["reference_id"]] = ArticleResult(item["reference_id"], status == RESULT_SUCCESS, message)
    return by_reference
