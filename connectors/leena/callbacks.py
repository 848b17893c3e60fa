"""Leena's signed callbacks (the seed's V2 async API): how they are verified and what they report.

Leena signs the raw body with the integration's `client_secret` (HMAC-SHA256, hex) in
`X-Leena-Signature`; its docs do not say whether the hex carries a `sha256=` prefix, so both are
taken. The hub issues no signing secret for Leena: the secret is the one in the config.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

from connectors.callbacks import CallbackEntryRefused, CallbackLogLine, CallbackRefused, CallbackVerifier
from connectors.leena.api import CallbackResult

SIGNATURE_HEADER = "X-Leena-Signature"
SIGNATURE_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def leena_signature_for(client_secret: str, raw_body: bytes) -> str:
    """The bare hex digest Leena sends with `raw_body` (the fake signs with this too)."""
    return hmac.new(client_secret.encode(), raw_body, hashlib.sha256).hexdigest()


class LeenaSignature(CallbackVerifier):
    """HMAC-SHA256 of the raw body under the config's client_secret, compared in constant time. A
    missing or unreadable header is refused like a wrong one (403): Leena sends no other scheme."""

    uses_signing_secrets: ClassVar[bool] = False

    def __init__(self, client_secret: str) -> None:
        self._client_secret = client_secret

    def __repr__(self) -> str:  # never the secret
        return "LeenaSignature()"

    def verify(self, *, headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str], now: float) -> str | None:
        sent = (headers.get(SIGNATURE_HEADER) or "").strip()
        if sent[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
            sent = sent[len(SIGNATURE_PREFIX) :]
        if not _HEX_DIGEST.fullmatch(sent):
            raise CallbackRefused(f"The {SIGNATURE_HEADER} header is missing or is not a hex HMAC-SHA256.")
        expected = leena_signature_for(self._client_secret, raw_body)
        if not self._client_secret or not hmac.compare_digest(expected, sent.lower()):
            raise CallbackRefused(f"The {SIGNATURE_HEADER} signature does not match.")
        # The signature names this very body: a retry of it is answered once, not logged twice.
        return f"leena:{expected}"


def callback_items_of(results: Sequence[CallbackResult]) -> Iterator[CallbackLogLine | CallbackEntryRefused]:
    """A line for the log of the run that sent each article; a failed one is due again (when the hub
    sent it: the ledger knows)."""
    for result in results:
        said = f": {result.message}" if result.message else ""
        if result.succeeded:
            message = f"Leena processed article {result.reference_id}{said}"
            yield CallbackLogLine("info", message, external_id=result.reference_id, remote_id=result.reference_id)
        else:
            message = f"Leena could not process article {result.reference_id}{said}"
            yield CallbackLogLine("error", message, external_id=result.reference_id, remote_id=result.reference_id)
            yield CallbackEntryRefused(remote_id=result.reference_id, reason=f"Leena reported{said or ' a failure'}")
