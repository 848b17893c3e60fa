"""The two signature schemes: Knora's `X-Knora-Signature` (body only) and Standard Webhooks (id.timestamp.body),
and `KnoraSignatures`, the default verifier of every connector with signed callbacks.

Each scheme has its signing helper beside its verifier, and the tests sign with them (Standard
Webhooks with the reference `standardwebhooks` library, which this module also verifies with).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from connectors.callbacks import CallbackMalformed, CallbackRefused, CallbackVerifier

SIGNATURE_HEADER = "X-Knora-Signature"
SIGNATURE_PREFIX = "sha256="
_SIGNATURE_FORMAT = re.compile(r"sha256=([0-9a-fA-F]{64})")

SECRET_PREFIX = "whsec_"
# Fixed by the Standard Webhooks specification (and by the reference library's verifier).
TIMESTAMP_TOLERANCE_SECONDS = 300
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
MAX_ID_LENGTH = 255  # WebhookDelivery.idempotency_key
# Visible ASCII: what an id is in practice, and storable everywhere.
_ID_FORMAT = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LENGTH}}}")
# Whole seconds as the sender wrote them: the library signs str(int(timestamp)), so a leading zero,
# a sign or a fraction would be verified against another string than the one sent.
_TIMESTAMP_FORMAT = re.compile(r"0|[1-9][0-9]{0,11}")
# `v1,<base64>` (or another version, which is skipped), space-separated.
_VERSIONED_SIGNATURE = re.compile(r"(v[0-9a-z]{1,8}),([A-Za-z0-9+/]*={0,2})")


def new_signing_secret() -> str:
    """`whsec_` + standard base64 of 32 random bytes: what Standard Webhooks libraries decode."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_for(secret: str, raw_body: bytes) -> str:
    """The `X-Knora-Signature` value a sender puts on `raw_body`: `sha256=<hex HMAC-SHA256>`."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_digest(header_value: str | None) -> str | None:
    """The lower-case hex digest of a well-formed header, or None when missing or malformed."""
    if not header_value:
        return None
    match = _SIGNATURE_FORMAT.fullmatch(header_value.strip())
    return match.group(1).lower() if match else None


def signature_matches(secret: str, raw_body: bytes, digest: str) -> bool:
    """Constant-time comparison of `digest` (from signature_digest) with the body's HMAC."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)


@dataclass(frozen=True)
class StandardHeaders:
    """The three Standard Webhooks headers, checked for shape (not yet verified)."""

    msg_id: str
    timestamp: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {
            STANDARD_ID_HEADER: self.msg_id,
            STANDARD_TIMESTAMP_HEADER: self.timestamp,
            STANDARD_SIGNATURE_HEADER: self.signature,
        }


def standard_headers(msg_id: str | None, timestamp: str | None, signature: str | None) -> StandardHeaders | None:
    """The headers when all three are well-formed, else None (a 400: nothing was verified yet).

    Checked here so that the reference verifier below only ever fails with its own
    WebhookVerificationError: its parsing raises other errors on malformed input.
    """
    msg_id, timestamp, signature = (value.strip() if value else "" for value in (msg_id, timestamp, signature))
    if not (_ID_FORMAT.fullmatch(msg_id) and _TIMESTAMP_FORMAT.fullmatch(timestamp)):
        return None
    parts = signature.split(" ")
    if not 1 <= len(parts) <= 16:
        return None
    for part in parts:
        match = _VERSIONED_SIGNATURE.fullmatch(part)
        if match is None or len(match.group(2)) % 4:
            return None
    return StandardHeaders(msg_id=msg_id, timestamp=timestamp, signature=signature)


@functools.lru_cache(maxsize=1024)
def standard_verifier(secret: str) -> Webhook | None:
    """The reference library's verifier for a secret, or None when the secret is not
    `whsec_<base64>` (integrations created before Standard Webhooks were accepted). Kept per
    secret, so a delivery does not decode the secret again."""
    try:
        return Webhook(secret)
    except (binascii.Error, ValueError, EmptyWebhookSecretError):
        return None


def standard_timestamp_current(timestamp: str, now: float) -> bool:
    """Within the tolerance of now, either way: otherwise a replay (or a badly wrong clock)."""
    return abs(int(timestamp) - now) <= TIMESTAMP_TOLERANCE_SECONDS


def standard_signature_matches(verifier: Webhook, raw_body: bytes, headers: StandardHeaders) -> bool:
    """Whether one of the header's `v1` signatures is the HMAC of `id.timestamp.body` under the
    verifier's secret (the library compares in constant time). The body must be UTF-8 for the
    library to sign it; one that is not cannot be verified."""
    try:
        verifier.verify(raw_body, headers.as_dict(), json_parse=False)
    except (WebhookVerificationError, UnicodeDecodeError):
        return False
    return True


MISMATCH = "The webhook signature does not match."


@dataclass(frozen=True)
class KnoraSignatures(CallbackVerifier):
    """The default verifier of signed callbacks: Standard Webhooks when a `webhook-signature` header
    is sent, else Knora's `X-Knora-Signature` (refused when `require_timestamped`). The view's
    docstring (webhooks.views.webhook_receive, steps 4 and 5) says what each answer is."""

    require_timestamped: bool = False

    def verify(self, *, headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str], now: float) -> str | None:
        if STANDARD_SIGNATURE_HEADER in headers:
            return self._standard_verify(headers, raw_body, secrets, now)
        digest = signature_digest(headers.get(SIGNATURE_HEADER))
        if digest is None:
            raise CallbackMalformed(f"The {SIGNATURE_HEADER} header must read sha256=<64 hex characters>.")
        if self.require_timestamped:
            raise CallbackRefused(
                "This webhook requires timestamped signatures (Standard Webhooks: webhook-id, webhook-timestamp, "
                "webhook-signature); X-Knora-Signature alone is refused."
            )
        if any(signature_matches(secret, raw_body, digest) for secret in secrets):
            return None
        raise CallbackRefused(MISMATCH)

    @staticmethod
    def _standard_verify(headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str], now: float) -> str:
        standard = standard_headers(
            headers.get(STANDARD_ID_HEADER), headers.get(STANDARD_TIMESTAMP_HEADER), headers[STANDARD_SIGNATURE_HEADER]
        )
        if standard is None:
            raise CallbackMalformed(
                "Standard Webhooks signatures need webhook-id (1-255 visible ASCII characters), webhook-timestamp "
                "(whole Unix seconds) and webhook-signature (space-separated v1,<base64>)."
            )
        if not standard_timestamp_current(standard.timestamp, now):
            raise CallbackRefused(f"The webhook timestamp is more than {TIMESTAMP_TOLERANCE_SECONDS} s from now.")
        for secret in secrets:
            verifier = standard_verifier(secret)
            if verifier is not None and standard_signature_matches(verifier, raw_body, standard):
                return standard.msg_id
        raise CallbackRefused(MISMATCH)
