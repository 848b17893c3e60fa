"""The `webhook` connector: a source fed by signed inbound posts, not by pulling."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    ConfigField,
    Connector,
    ConnectorInfo,
    PreviewResult,
    ProbeResult,
    Record,
)
from connectors.callbacks import CallbackLogLine
from connectors.capabilities import Preview, Probe, SignedCallbacks
from webhooks.signing import KnoraSignatures

CONTENT_KEYS = ("text", "body", "content")
TITLE_KEYS = ("title", "subject", "name")
TITLE_MAX = 200
REQUIRE_TIMESTAMPED_SIGNATURES = "require_timestamped_signatures"


class WebhookConnector(Connector, Probe, Preview, SignedCallbacks):
    info = ConnectorInfo(
        type="webhook",
        display_name="Custom webhook",
        description="Receive JSON payloads from any system through a signed webhook URL.",
        icon="webhook",
        data_description="JSON payloads with text, body or content",
        auth_type="hmac",
        config_schema=(
            ConfigField(
                key="source_label",
                label="Source label",
                placeholder="ci-system",
                help_text="Shown with each entry when the payload names no source.",
            ),
            ConfigField(
                key=REQUIRE_TIMESTAMPED_SIGNATURES,
                label="Require timestamped signatures",
                type="boolean",
                default=False,
                help_text=(
                    "Accept only Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature), "
                    "which cannot be replayed; a body-only X-Knora-Signature is then refused."
                ),
            ),
        ),
    )

    def probe(self) -> ProbeResult:
        return ProbeResult(healthy=True, message="Webhook integrations are always healthy.")

    def preview(self) -> PreviewResult:
        return PreviewResult(
            summary="Webhook integrations receive data as it is posted; nothing to preview.",
            items=[],
            estimated_entries=None,
        )

    @classmethod
    def callback_verifier(cls, config: dict[str, Any]) -> KnoraSignatures:
        """Knora's schemes; with `require_timestamped_signatures`, Standard Webhooks only."""
        return KnoraSignatures(require_timestamped=config.get(REQUIRE_TIMESTAMPED_SIGNATURES) is True)

    def callback_items(
        self, payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None
    ) -> Iterable[Record | CallbackLogLine]:
        record = record_from_payload(payload, raw_body=raw_body, signed_id=signed_id)
        return () if record is None else (record,)


def record_from_payload(payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None) -> Record | None:
    """The record a webhook payload makes, or None when it has no usable text.

    Only something the sender signed keys the entry: the Standard Webhooks `webhook-id`
    (`signed_id`), else the body's hash. An unsigned Idempotency-Key never does, or one captured
    delivery replayed with fresh keys would make as many entries.
    """
    content = next(
        (payload[key].strip() for key in CONTENT_KEYS if isinstance(payload.get(key), str) and payload[key].strip()),
        None,
    )
    if content is None:
        return None
    title = next(
        (payload[key].strip() for key in TITLE_KEYS if isinstance(payload.get(key), str) and payload[key].strip()),
        content.splitlines()[0][:TITLE_MAX],
    )
    external_id = signed_id or "sha256:" + hashlib.sha256(raw_body).hexdigest()
    metadata = {key: value for key, value in payload.items() if key not in CONTENT_KEYS}
    return Record(
        external_id=external_id,
        title=title,
        content=content,
        url=payload["url"] if isinstance(payload.get("url"), str) else "",
        author=payload["author"] if isinstance(payload.get("author"), str) else "",
        metadata=metadata,
        source_created_at=_parse_time(payload.get("timestamp")),
    )


def _parse_time(value: Any) -> datetime | None:
    """An aware time the database can hold, or None: `9999-12-31T23:59:59-10:00` is past year 9999
    in UTC, where the database stores it. A time without an offset is taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
