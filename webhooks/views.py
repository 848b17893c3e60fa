"""`POST /api/v1/integrations/webhook/<integration_id>/receive`: Knora's signed inbound webhook, the
one receive path of every connector with signed callbacks (its verifier, its payload's meaning)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connectors.callbacks import CallbackMalformed, CallbackRefused
from hub.errors import DATABASE_DOWN_ERRORS, DATABASE_DOWN_RETRY_AFTER, ApiError, ErrorCode, error_response
from hub.parsers import read_bounded
from webhooks import services
from webhooks.signing import STANDARD_ID_HEADER
from webhooks.throttles import WebhookReceiveThrottle

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_DELIVERY_KEY_LENGTH = 255  # WebhookDelivery.idempotency_key
MAX_NESTING = 64
ACCEPTED_MESSAGE = "Payload accepted."
NOT_ACCEPTED_MESSAGE = "Payload did not contain processable content."
# Only a JSON escape can put NUL or a lone surrogate into a parsed string (raw bytes that are not
# UTF-8 fail to decode), so the payload is searched only when the body holds such an escape.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
# While the database is restarting or unreachable nothing is stored (the delivery's writes are one
# statement or one transaction): 503 with Retry-After (hub.errors), so the sender retries the delivery.


@csrf_exempt
def webhook_receive(request: HttpRequest, integration_id: uuid.UUID) -> JsonResponse:
    """Receive one signed JSON payload. No JWT: the signature is the authentication.

    Checks, in this order; the first that fails answers, in the error envelope:

    1. The integration exists and its connector has signed callbacks (`SignedCallbacks`: the
       `webhook` connector, and any upstream that posts callbacks), else 404 NOT_FOUND (the same
       answer for both, so the URL space tells nothing).
    2. The integration has had at most WEBHOOK_RECEIVE_RATE deliveries (default 6000/min) in
       the current window, else 429 RATE_LIMITED with Retry-After (seconds).
    3. The body is at most 1 MiB, else 413 PAYLOAD_TOO_LARGE: a larger Content-Length is
       refused unread, and at most 1 MiB + 1 bytes are ever read. A body shorter than its
       Content-Length (the sender stopped early) is 400 VALIDATION_ERROR.

    Steps 4 and 5 are the connector's verifier's (`SignedCallbacks.callback_verifier`), with
    the same answers; as written here they are the default's, Knora's, which `webhook` uses.

    4. The signature headers are well-formed, else 400 VALIDATION_ERROR. With a
       `webhook-signature` header the scheme is Standard Webhooks: `webhook-id` (1-255 visible
       ASCII characters), `webhook-timestamp` (whole Unix seconds) and `webhook-signature`
       (space-separated `v1,<base64>`; other versions are skipped). Without it, Knora's:
       `X-Knora-Signature` reads `sha256=<64 hex>`.
    5. The signature is current and matches, else 403 FORBIDDEN, compared in constant time
       before anything parses the body. Standard Webhooks: the timestamp is at most 300 s from
       now either way, and one `v1` signature is HMAC-SHA256 of `id.timestamp.body` under the
       base64-decoded part of the secret after `whsec_`. Knora's: refused outright when the
       integration's config sets `require_timestamped_signatures`; else HMAC-SHA256 of the raw
       body under the whole secret. The secret replaced by the last rotation also verifies,
       for WEBHOOK_SECRET_OVERLAP_HOURS after it.
    6. Content-Type is application/json, else 415 UNSUPPORTED_MEDIA_TYPE. After the signature,
       so an unsigned caller learns nothing but 403.
    7. The body is a JSON object the database can store (no NaN/Infinity or numbers beyond
       them, no NUL or lone surrogate in strings or keys, nesting at most 64 deep), else 400
       VALIDATION_ERROR.
    8. `Idempotency-Key` (or, with Knora's scheme, an unsigned `webhook-id`), when sent, is at
       most 255 characters, else 400 VALIDATION_ERROR.

    Then the connector says what the payload makes (`SignedCallbacks.callback_items`): entries,
    and lines for the integration's running (else latest) sync job log. 202 when it made any
    (with the first entry, if any), else 200 with `accepted: false`. The webhook connector makes
    one entry when `text`, `body` or `content` holds non-empty text, keyed by a signed id only:
    the Standard Webhooks `webhook-id`, else the body's hash (an unsigned Idempotency-Key never
    keys it, so a replayed delivery with fresh keys updates the same entry). A `timestamp` the database
    cannot hold is left out of the entry. A retry with the same delivery key (the signed id,
    else the Idempotency-Key) gets the first answer again. The organisation is always the
    integration's own.

    While the database does not answer (a restart), nothing is stored and the answer is 503
    SERVICE_UNAVAILABLE with Retry-After, for the sender to retry.
    """
    if request.method != "POST":
        response = error_response(ErrorCode.METHOD_NOT_ALLOWED)
        response["Allow"] = "POST"
        return response
    try:
        target, payload, raw_body, signed_id, unsigned_key = _verified_delivery(request, integration_id)
        receipt = services.webhook_receive(
            target=target,
            payload=payload,
            raw_body=raw_body,
            signed_id=signed_id,
            unsigned_key=unsigned_key,
        )
    except _Throttled as exc:
        response = error_response(ErrorCode.RATE_LIMITED, "Too many deliveries to this webhook; retry later.")
        response["Retry-After"] = str(exc.retry_after)
        return response
    except ApiError as exc:
        return error_response(exc.error_code, exc.message, exc.details)
    except DATABASE_DOWN_ERRORS as exc:
        logger.warning("Webhook delivery for %s not stored: the database did not answer (%s)", integration_id,
                       type(exc).__name__)  # fmt: skip
        response = error_response(ErrorCode.SERVICE_UNAVAILABLE, "Deliveries cannot be stored right now; retry later.")
        response["Retry-After"] = str(DATABASE_DOWN_RETRY_AFTER)
        return response
    body = {
        "integration_id": str(target.integration.id),
        "accepted": receipt.accepted,
        "entry_id": str(receipt.entry_id) if receipt.entry_id else None,
        "message": ACCEPTED_MESSAGE if receipt.accepted else NOT_ACCEPTED_MESSAGE,
    }
    return JsonResponse(body, status=202 if receipt.accepted else 200)


class _Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


def _verified_delivery(request: HttpRequest, integration_id: uuid.UUID):
    """Steps 1-8 of the view's docstring; returns (target, payload, raw body, signed id, unsigned key)."""
    target = services.webhook_target_get(integration_id=integration_id)
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Webhook integration not found.")
    throttle = WebhookReceiveThrottle()
    if not throttle.allow_integration(integration_id):
        raise _Throttled(int(throttle.wait()))
    raw_body = read_bounded(request, request.META.get("CONTENT_LENGTH"), MAX_BODY_BYTES)
    target, signed_id = _target_verifying(target, request.headers, raw_body)
    if request.content_type.lower() != "application/json":
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json.")
    payload = _json_object(raw_body)
    unsigned_key = None if signed_id else _unsigned_key(request)
    return target, payload, raw_body, signed_id, unsigned_key


def _target_verifying(
    target: services.WebhookTarget, headers: Mapping[str, str], raw_body: bytes
) -> tuple[services.WebhookTarget, str | None]:
    """The target whose verifier and secrets let the delivery in, and the id its sender signed;
    else 400 VALIDATION_ERROR (malformed signature headers) or 403 FORBIDDEN.

    A refusal is checked once more against the integration read afresh, so a secret rotated
    (or a requirement lifted) in another process takes effect here at once.
    """
    try:
        return target, _verified_signed_id(target, headers, raw_body)
    except CallbackRefused as exc:
        refusal = str(exc)
    fresh = services.webhook_target_get(integration_id=target.integration.id, fresh=True)
    if fresh is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Webhook integration not found.")
    if _sealed_state(fresh) != _sealed_state(target):
        try:
            return fresh, _verified_signed_id(fresh, headers, raw_body)
        except CallbackRefused as exc:
            refusal = str(exc)
    logger.info("Webhook delivery refused for integration %s: %s", target.integration.id, refusal)
    raise ApiError(ErrorCode.FORBIDDEN, refusal)


def _verified_signed_id(target: services.WebhookTarget, headers: Mapping[str, str], raw_body: bytes) -> str | None:
    secrets = target.secrets_valid_at(timezone.now())
    try:
        return target.verifier.verify(headers=headers, raw_body=raw_body, secrets=secrets, now=time.time())
    except CallbackMalformed as exc:
        raise ApiError(ErrorCode.VALIDATION_ERROR, str(exc)) from None


def _sealed_state(target: services.WebhookTarget) -> tuple[str, str]:
    return target.integration.credentials_sealed, target.integration.config_sealed


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        # ValueError covers malformed JSON and bytes that are not UTF-8/16/32.
        raise ApiError(ErrorCode.VALIDATION_ERROR, f"The body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(ErrorCode.VALIDATION_ERROR, "The body must be a JSON object.")
    # The database cannot store NUL or a lone surrogate (not Unicode) in text or JSON, nor nest
    # without bound; both are rare, so the payload is walked only when the body hints at them.
    unstorable = _UNSTORABLE_ESCAPE.search(raw_body) is not None
    deep = raw_body.count(b"{") + raw_body.count(b"[") > MAX_NESTING
    if unstorable or deep:
        _storable_check(payload)
    return payload


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is beyond the range of a number")
    return value


def _storable_check(payload: Any) -> None:
    """400 when a string or key holds NUL or a lone surrogate, or nesting is deeper than MAX_NESTING."""
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE_CHARACTER.search(value):
                raise ApiError(
                    ErrorCode.VALIDATION_ERROR,
                    "Strings in the body must be valid Unicode without NUL (no \\u0000, no lone surrogate).",
                )
        elif isinstance(value, dict | list):
            if depth > MAX_NESTING:
                raise ApiError(ErrorCode.VALIDATION_ERROR, f"The body is nested more than {MAX_NESTING} deep.")
            children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def _unsigned_key(request: HttpRequest) -> str | None:
    """Idempotency-Key, or a `webhook-id` sent with Knora's scheme: unsigned, so it only picks
    the answer replayed for a retry, and never keys an entry."""
    key = (request.headers.get("Idempotency-Key") or request.headers.get(STANDARD_ID_HEADER) or "").strip()
    if len(key) > MAX_DELIVERY_KEY_LENGTH:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            f"The idempotency key must be at most {MAX_DELIVERY_KEY_LENGTH} characters.",
        )
    return key or None
