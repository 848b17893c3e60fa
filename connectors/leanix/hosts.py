"""The workspace host of a LeanIX config: a domain (https:// implied) or a full URL, as a base URL."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from connectors.config import http_url_parts


def clean_host(value: Any) -> tuple[Any, str | None]:
    """`acme.leanix.net` → `https://acme.leanix.net`; an `http://` URL only where ALLOW_PRIVATE_UPSTREAMS is on."""
    text = str(value).strip().rstrip("/")
    url = text if "://" in text else f"https://{text}"
    parts, error = http_url_parts(url)
    if error or parts is None:
        return value, error or "Not a valid host."
    if parts.scheme == "http" and not getattr(settings, "ALLOW_PRIVATE_UPSTREAMS", False):
        return value, "Must be an https:// address (https:// is implied when left out)."
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username or parts.password:
        return value, "Must be the workspace's domain only, with no path, query or credentials."
    return f"{parts.scheme}://{parts.netloc}", None
