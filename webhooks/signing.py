"""The `X-Knora-Signature` scheme: sign a raw body, parse the header, verify in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Knora-Signature"
SIGNATURE_PREFIX = "sha256="
_SIGNATURE_FORMAT = re.compile(r"sha256=([0-9a-fA-F]{64})")


def signature_for(secret: str, raw_body: bytes) -> str:
    """The header value a sender puts on `raw_body`: `sha256=<hex HMAC-SHA256>`."""
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
