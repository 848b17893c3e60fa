"""`POST /api/v1/integrations/webhook/<integration_id>/receive`: Knora's signed inbound webhook."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hub.errors import ApiError, ErrorCode, error_response
from hub.parsers import read_bounded
from webhooks import services
from webhooks.signing import SIGNATURE_HEADER, signature_digest, signature_matches

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_DELIVERY_KEY_LENGTH = 255  # WebhookDelivery.idempotency_key
ACCEPTED_MESSAGE = "Payload accepted."
NOT_ACCEPTED_MESSAGE = "Payload did not contain processable content."


@csrf_exempt
def webhook_receive(request: HttpRequest, integration_id: uuid.UUID) -> JsonResponse:
    """Receive one signed JSON payload. No JWT: the signature is the authentication.

    Checks, in this order; the first that fails answers, in the error envelope:

    1. The integration exists and is of type `webhook`, else 404 NOT_FOUND (the same answer
       for both, so the URL space tells nothing).
    2. The body is at most 1 MiB, else 413 PAYLOAD_TOO_LARGE: a larger Content-Length is
       refused unread, and at most 1 MiB + 1 bytes are ever read.
    3. `X-Knora-Signature` is present and reads `sha256=<64 hex>`, else 400 VALIDATION_ERROR.
    4. It equals HMAC-SHA256 of the raw body under the integration's signing secret, compared
       in constant time before anything parses the body, else 403 FORBIDDEN.
    5. Content-Type is application/json, else 415 UNSUPPORTED_MEDIA_TYPE. After the signature,
       so an unsigned caller learns nothing but 403.
    6. The body is a JSON object (no NaN/Infinity, no NUL in strings), else 400 VALIDATION_ERROR.
    7. `Idempotency-Key` (or `webhook-id`), when sent, is at most 255 characters, else 400.

    Then 202 with the entry when `text`, `body` or `content` holds non-empty text, else 200
    with `accepted: false`. A retry with the same delivery key gets the first answer again.
    The organisation is always the integration's own.
    """
    if request.method != "POST":
        response = error_response(ErrorCode.METHOD_NOT_ALLOWED)
        response["Allow"] = "POST"
        return response
    try:
        integration, payload, raw_body, delivery_key = _verified_delivery(request, integration_id)
        receipt = services.webhook_receive(
            integration=integration, payload=payload, raw_body=raw_body, delivery_key=delivery_key
        )
    except ApiError as exc:
        return error_response(exc.error_code, exc.message, exc.details)
    body = {
        "integration_id": str(integration.id),
        "accepted": receipt.accepted,
        "entry_id": str(receipt.entry_id) if receipt.entry_id else None,
        "message": ACCEPTED_MESSAGE if receipt.accepted else NOT_ACCEPTED_MESSAGE,
    }
    return JsonResponse(body, status=202 if receipt.accepted else 200)


def _verified_delivery(request: HttpRequest, integration_id: uuid.UUID):
    """Steps 1-7 of the view's docstring; returns (integration, payload, raw body, delivery key)."""
    integration = services.webhook_integration_get(integration_id=integration_id)
    if integration is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Webhook integration not found.")
    raw_body = read_bounded(request, request.META.get("CONTENT_LENGTH"), MAX_BODY_BYTES)
    digest = signature_digest(request.headers.get(SIGNATURE_HEADER))
    if digest is None:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            f"The {SIGNATURE_HEADER} header must read sha256=<64 hex characters>.",
        )
    secret = services.webhook_signing_secret(integration=integration)
    if secret is None or not signature_matches(secret, raw_body, digest):
        logger.info("Webhook signature mismatch for integration %s", integration.id)
        raise ApiError(ErrorCode.FORBIDDEN, "The webhook signature does not match.")
    if request.content_type.lower() != "application/json":
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json.")
    payload = _json_object(raw_body)
    return integration, payload, raw_body, _delivery_key(request)


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        # ValueError covers malformed JSON and bytes that are not UTF-8/16/32.
        raise ApiError(ErrorCode.VALIDATION_ERROR, f"The body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(ErrorCode.VALIDATION_ERROR, "The body must be a JSON object.")
    # The database cannot store NUL in text or JSON; the escape is rare, so look only then.
    if b"\\u0000" in raw_body and _holds_nul(payload):
        raise ApiError(ErrorCode.VALIDATION_ERROR, "Strings in the body must not contain NUL (\\u0000).")
    return payload


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _holds_nul(payload: Any) -> bool:
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _delivery_key(request: HttpRequest) -> str | None:
    key = (request.headers.get("Idempotency-Key") or request.headers.get("Webhook-Id") or "").strip()
    if len(key) > MAX_DELIVERY_KEY_LENGTH:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            f"The idempotency key must be at most {MAX_DELIVERY_KEY_LENGTH} characters.",
        )
    return key or None
