"""Senders for the webhook tests: Knora's X-Knora-Signature and Standard Webhooks, signed by the
helpers production verifies with (Standard Webhooks by the reference `standardwebhooks` library)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse
from standardwebhooks import Webhook

from webhooks.signing import signature_for

FIXTURES = Path(__file__).parent / "fixtures"
DEPLOY_BODY = (FIXTURES / "ci_deploy__text.json").read_bytes()


def receive_path(integration_id) -> str:
    return reverse("integrations:webhook-receive", kwargs={"integration_id": integration_id})


def raw_of(body: bytes | dict[str, Any]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def post_signed(
    path: str,
    body: bytes | dict[str, Any],
    secret: str | None,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    **extra: str,
):
    """POST with X-Knora-Signature over the body (unless `secret` is None or headers carry one)."""
    raw = raw_of(body)
    all_headers = dict(headers or {})
    if secret is not None:
        all_headers.setdefault("X-Knora-Signature", signature_for(secret, raw))
    # The test client leaves CONTENT_TYPE out for an empty body; a real sender would not.
    extra.setdefault("CONTENT_TYPE", content_type)
    return Client().generic("POST", path, raw, content_type=content_type, headers=all_headers, **extra)


def standard_headers_for(secret: str, raw: bytes, *, msg_id: str, timestamp: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers, as the reference library signs them."""
    timestamp = timestamp or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=raw.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def post_standard(
    path: str,
    body: bytes | dict[str, Any],
    secret: str,
    *,
    msg_id: str = "msg_1",
    timestamp: datetime | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
):
    """POST signed with Standard Webhooks by the reference library."""
    raw = raw_of(body)
    all_headers = {**standard_headers_for(secret, raw, msg_id=msg_id, timestamp=timestamp), **(headers or {})}
    return Client().generic(
        "POST", path, raw, content_type=content_type, headers=all_headers, CONTENT_TYPE=content_type
    )


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
