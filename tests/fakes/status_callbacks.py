"""A test-only destination whose upstream reports asynchronously, as Leena's V2 API will: each batch
it takes is a remote job, and the upstream later posts a signed status callback ("job 7 finished,
article 12 failed") to the hub's receive URL, which becomes lines of the integration's job log.

Its signature scheme is its own, not Knora's: `X-Status-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256 of "<t>." + body>` under the integration's signing secret. The signing helper is
beside the verifier, and the tests sign with it. `OpenStatusConnector` is the same destination
behind a verifier that uses no signing secret (so rotate-secret has nothing to rotate for it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import Connector, ConnectorInfo, EntrySnapshot, PushAccepted, PushItem, Record
from connectors.callbacks import CallbackLogLine, CallbackMalformed, CallbackRefused, CallbackVerifier
from connectors.capabilities import SOURCES_FIELD, PushDestination, SignedCallbacks

STATUS_SIGNATURE_HEADER = "X-Status-Signature"
TOLERANCE_SECONDS = 300
_SIGNATURE_FORMAT = re.compile(r"t=([0-9]{1,12}),v1=([0-9a-f]{64})")
OPEN_HEADER = "X-Status-Network"


def status_signature_for(secret: str, raw_body: bytes, *, timestamp: int) -> str:
    """The header value the upstream sends with `raw_body` at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StatusSignatures(CallbackVerifier):
    """The upstream's own scheme: timestamped, so a captured callback cannot be replayed later."""

    def verify(self, *, headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str], now: float) -> str | None:
        match = _SIGNATURE_FORMAT.fullmatch((headers.get(STATUS_SIGNATURE_HEADER) or "").strip())
        if match is None:
            raise CallbackMalformed(f"The {STATUS_SIGNATURE_HEADER} header must read t=<unix seconds>,v1=<64 hex>.")
        timestamp, digest = match.groups()
        if abs(int(timestamp) - now) > TOLERANCE_SECONDS:
            raise CallbackRefused(f"The status callback is more than {TOLERANCE_SECONDS} s from now.")
        for secret in secrets:
            expected = status_signature_for(secret, raw_body, timestamp=int(timestamp))
            if hmac.compare_digest(expected.encode(), match.group(0).encode()):
                # The signature names this very callback: a retry of it is answered once, not logged twice.
                return f"status:{timestamp}:{digest}"
        raise CallbackRefused("The status signature does not match.")


class StatusDeskConnector(Connector, PushDestination, SignedCallbacks):
    """Takes every entry at once (the remote job runs later); its status callbacks are job-log lines."""

    callbacks_make_records: ClassVar[bool] = False
    info = ConnectorInfo(
        type="statusdesk",
        display_name="Status desk",
        description="A destination that reports on its remote jobs through signed callbacks.",
        icon="statusdesk",
        data_description="Knowledge entries, published asynchronously",
        auth_type="hmac",
        config_schema=(SOURCES_FIELD,),
    )

    @classmethod
    def callback_verifier(cls, config: dict[str, Any]) -> CallbackVerifier:
        return StatusSignatures()

    def push_batch(self, entries: Sequence[EntrySnapshot]) -> Iterable[PushItem]:
        return [PushAccepted(entry_id=entry.id, remote_id=f"article-{entry.id}", created=True) for entry in entries]

    def callback_items(
        self, payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None
    ) -> Iterable[Record | CallbackLogLine]:
        """`{"job": "7", "status": "finished", "articles": [{"id": "12", "status": "failed", "reason": "..."}]}`;
        a payload without a job reports nothing. A published article that quotes its `text` is also
        yielded as a record: the fault of a careless connector, which the hub must not keep."""
        job, status = payload.get("job"), payload.get("status")
        if not isinstance(job, str) or not isinstance(status, str):
            return
        failed = status not in ("finished", "running")
        yield CallbackLogLine(level="error" if failed else "info", message=f"Remote job {job} {status}.")
        articles = payload.get("articles")
        for article in articles if isinstance(articles, list) else ():
            if isinstance(article, dict) and isinstance(article.get("text"), str):
                yield Record(external_id=str(article.get("id")), title="Quoted", content=article["text"])
            if isinstance(article, dict) and article.get("status") == "failed":
                reason = article.get("reason") if isinstance(article.get("reason"), str) else "no reason given"
                article_id = str(article.get("id"))
                yield CallbackLogLine(
                    level="error", message=f"Article {article_id} failed: {reason}", external_id=article_id
                )


class OpenNetworkStatuses(CallbackVerifier):
    """A verifier that uses no signing secret: it lets in callbacks that say they come from the
    upstream's private network (a test stand-in for mTLS or an allow-list in front of the hub)."""

    uses_signing_secrets: ClassVar[bool] = False

    def verify(self, *, headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str], now: float) -> str | None:
        if headers.get(OPEN_HEADER) != "private":
            raise CallbackRefused("Status callbacks are taken from the private network only.")
        return None


class OpenStatusConnector(StatusDeskConnector):
    info = ConnectorInfo(
        type="statusdesk-open",
        display_name="Status desk (private network)",
        description="The status desk behind a private network: its callbacks carry no signature.",
        icon="statusdesk",
        data_description="Knowledge entries, published asynchronously",
        auth_type="api_key",
        config_schema=(SOURCES_FIELD,),
    )

    @classmethod
    def callback_verifier(cls, config: dict[str, Any]) -> CallbackVerifier:
        return OpenNetworkStatuses()
