"""Secrets at rest: AES-256-GCM sealing with key ids and row-bound associated data.

A sealed value reads `tb1:<key id>:<base64url(nonce + ciphertext)>`. The associated data names
the model, organisation, row and field, so a ciphertext copied elsewhere does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "tb1"
NONCE_BYTES = 12


class SecretDecryptionError(Exception):
    """A sealed value that cannot be opened: wrong row, unknown key, or tampered."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]
    newest_id: str


@functools.lru_cache(maxsize=8)
def _parse_keyring(spec: str) -> Keyring:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for pair in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = pair.partition(":")
        if not sep or not key_id:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS entries must be `id:base64key`.")
        try:
            # Standard or URL-safe alphabet, padding optional.
            normalised = encoded.replace("-", "+").replace("_", "/")
            key = base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"Encryption key {key_id!r} is not base64.") from exc
        if len(key) != 32:
            raise ImproperlyConfigured(f"Encryption key {key_id!r} must be 32 bytes.")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds no key.")
    return Keyring(keys=keys, newest_id=order[0])


def keyring() -> Keyring:
    return _parse_keyring(settings.FIELD_ENCRYPTION_KEYS)


def seal(plaintext: bytes, *, aad: str) -> str:
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(ring.keys[ring.newest_id]).encrypt(nonce, plaintext, aad.encode())
    token = base64.urlsafe_b64encode(nonce + ciphertext).decode()
    return f"{PREFIX}:{ring.newest_id}:{token}"


def sealed_key_id(sealed: str) -> str:
    return _split(sealed)[1]


def unseal(sealed: str, *, aad: str) -> bytes:
    _, key_id, token = _split(sealed)
    key = keyring().keys.get(key_id)
    if key is None:
        raise SecretDecryptionError(f"No encryption key with id {key_id!r} is configured.")
    try:
        raw = base64.urlsafe_b64decode(token)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise SecretDecryptionError("Sealed value does not belong to this row or was altered.") from exc


def _split(sealed: str) -> tuple[str, str, str]:
    parts = sealed.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        # Never fall back to reading the column as plaintext.
        raise SecretDecryptionError("Value is not a sealed secret.")
    return parts[0], parts[1], parts[2]


class SealedJSON:
    """Model attribute holding a JSON value, stored sealed in the text column `column`.

    The model provides `sealing_aad(field_name)`; see SealedModelMixin.
    """

    def __init__(self, column: str) -> None:
        self.column = column

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        owner.sealed_fields = {**getattr(owner, "sealed_fields", {}), name: self.column}

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        raw = getattr(instance, self.column)
        if not raw:
            return {}
        return json.loads(unseal(raw, aad=instance.sealing_aad(self.name)))

    def __set__(self, instance: Any, value: Any) -> None:
        plaintext = json.dumps(value, separators=(",", ":")).encode()
        setattr(instance, self.column, seal(plaintext, aad=instance.sealing_aad(self.name)))


class SealedModelMixin:
    """Binds sealed values to model, organisation, row and field."""

    sealed_fields: dict[str, str] = {}

    def sealing_aad(self, field_name: str) -> str:
        return f"{self._meta.label_lower}:{self.organisation_id}:{self.pk}:{field_name}"

    def reseal(self) -> list[str]:
        """Re-seal every sealed field under the newest key; returns the columns changed."""
        newest = keyring().newest_id
        changed = []
        for name, column in self.sealed_fields.items():
            raw = getattr(self, column)
            if raw and sealed_key_id(raw) != newest:
                setattr(self, name, getattr(self, name))
                changed.append(column)
        return changed
