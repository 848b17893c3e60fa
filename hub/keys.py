"""Keys derived per purpose from one secret (HKDF-SHA256), so no two uses share a key.

`SECRET_KEY` stays Django's own (sessions, CSRF, password reset); the JWT signing key and the
OAuth state key are derived from it with distinct labels, and field encryption has keys of its
own (`FIELD_ENCRYPTION_KEYS`). A key leaked from one purpose opens nothing of another.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
# Purposes in use; a new one is a new label, never a reused one.
JWT_SIGNING = "jwt-signing"
OAUTH_STATE = "oauth-state"


def derived_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """The key for `purpose` derived from `secret`; the same inputs always give the same key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=f"tributary:{purpose}".encode())
    return hkdf.derive(secret.encode())


def derived_key_text(secret: str, purpose: str) -> str:
    """`derived_key` as URL-safe text, for settings that take a string (simplejwt's SIGNING_KEY)."""
    return base64.urlsafe_b64encode(derived_key(secret, purpose)).decode()


class PurposeSealError(Exception):
    """A token that was not sealed for this purpose with this secret, or was altered."""


def purpose_seal(plaintext: bytes, *, secret: str, purpose: str) -> str:
    """AES-256-GCM under the purpose's key, as URL-safe text (for short-lived tokens)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derived_key(secret, purpose)).encrypt(nonce, plaintext, purpose.encode())
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def purpose_unseal(token: str, *, secret: str, purpose: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return AESGCM(derived_key(secret, purpose)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise PurposeSealError("The token was not sealed for this purpose or was altered.") from exc
