"""The `leena` destination: config, probe (a token request), the push of entries in Leena cycles, and
Leena's signed callbacks reporting on the articles later (connectors/leena/callbacks.py)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from connectors.base import (
    ConfigField,
    Connector,
    ConnectorInfo,
    EntrySnapshot,
    FieldCheck,
    ProbeResult,
    PushAccepted,
    PushFailed,
    PushItem,
    PushSkipped,
    Record,
    Warning,
)
from connectors.callbacks import CallbackEntryRefused, CallbackLogLine, CallbackVerifier
from connectors.capabilities import SOURCES_FIELD, Probe, PushDestination, SignedCallbacks
from connectors.config import http_url_parts
from connectors.errors import CredentialInvalid, UpstreamRejected
from connectors.leena import settings
from connectors.leena.api import callback_results_of
from connectors.leena.articles import article_of, has_content
from connectors.leena.callbacks import LeenaSignature, callback_items_of
from connectors.leena.client import LeenaClient
from connectors.leena.cycle import BACKOFF_SECONDS, ArticleUnit, cycle_publish

logger = logging.getLogger(__name__)

DEFAULT_AUTH_URL = "https://acl.leena.ai"
DEFAULT_LANGUAGE = "en"
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 500
URL_FIELDS = {"api_base_url": "https://acme.api.leena.ai", "auth_url": DEFAULT_AUTH_URL}
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}$")
SKIPPED_EMPTY = "no title and no text: nothing Leena could show"
SKIPPED_TOMBSTONE = (
    "deleted at its source; Leena's API has no delete, so its article stays in Leena until removed there"
)

CONFIG_SCHEMA = (
    ConfigField(
        key="client_id", label="Client ID", required=True, binds_secrets=True,
        help_text="From the credentials file of Leena's Custom API Connector (KM Integration Gallery).",
    ),
    ConfigField(key="client_secret", label="Client secret", type="password", required=True,
                help_text="From the same credentials file."),
    ConfigField(key="username", label="Username", required=True, binds_secrets=True,
                help_text="From the same credentials file."),
    ConfigField(key="password", label="Password", type="password", required=True,
                help_text="From the same credentials file."),
    ConfigField(
        key="api_base_url", label="API base URL", required=True, binds_secrets=True,
        placeholder=URL_FIELDS["api_base_url"], help_text="The host of your article endpoints, as Leena gives it.",
    ),
    ConfigField(
        key="auth_url", label="Auth URL", default=DEFAULT_AUTH_URL, binds_secrets=True, placeholder=DEFAULT_AUTH_URL,
        help_text="Where tokens are issued; another host only for Leena's regional accounts.",
    ),
    ConfigField(key="language", label="Language", default=DEFAULT_LANGUAGE, placeholder=DEFAULT_LANGUAGE,
                help_text="The language of entries that name none (the `$<Language>` of reference_id)."),
    SOURCES_FIELD,
    ConfigField(key="batch_size", label="Batch size", type="number", default=DEFAULT_BATCH_SIZE,
                help_text=f"Articles per cycle (upload, sync, complete), 1 to {MAX_BATCH_SIZE}."),
)  # fmt: skip


class LeenaConnector(Connector, Probe, PushDestination, SignedCallbacks):
    info = ConnectorInfo(
        type="leena",
        display_name="Leena AI",
        description="Publish the knowledge base into a Leena AI knowledge base through its KM REST API connector.",
        icon="leena",
        data_description="Articles (HTML) with their attachments",
        auth_type="api_key",
        config_schema=CONFIG_SCHEMA,
    )
    probe_on_create = True
    # Leena's callbacks report on articles the hub sent; they bring no knowledge in.
    callbacks_make_records: ClassVar[bool] = False
    # Seams for tests and the benchmark: how the connector waits between retries, and its clock.
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    clock: Callable[[], float] = staticmethod(time.monotonic)

    _client: LeenaClient | None = None

    @classmethod
    def config_checks(cls) -> dict[str, FieldCheck]:
        return {
            "api_base_url": lambda v: _clean_url(v, URL_FIELDS["api_base_url"]),
            "auth_url": lambda v: _clean_url(v, URL_FIELDS["auth_url"]),
            "language": _clean_language,
            "batch_size": _clean_batch_size,
        }

    def client(self) -> LeenaClient:
        """One client, so one token, for the whole run (renewed only when it expires or is refused)."""
        if self._client is None:
            self._client = LeenaClient(
                api_base_url=self.config["api_base_url"],
                auth_url=self.config.get("auth_url") or DEFAULT_AUTH_URL,
                client_id=self.config["client_id"],
                client_secret=self.config["client_secret"],
                username=self.config["username"],
                password=self.config["password"],
                read_timeout=float(settings.READ_TIMEOUT_SECONDS.get()),
                token_max_attempts=int(settings.TOKEN_MAX_ATTEMPTS.get()),
                clock=self.clock,
                sleep=self.sleep,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def probe(self) -> ProbeResult:
        """A token request: Leena's API has no cheaper call that proves the four credentials."""
        try:
            self.client().token()
        except CredentialInvalid:
            return ProbeResult(
                False,
                "Leena's token request returned 401 Unauthorized: "
                "check client_id, client_secret, username and password.",
            )
        except UpstreamRejected as exc:
            return ProbeResult(False, f"Leena refused the token request: {exc.message}")
        finally:
            self.close()
        return ProbeResult(True, "Leena credentials verified: a token was issued.")

    def push_batch_size(self) -> int:
        return int(self.config.get("batch_size") or DEFAULT_BATCH_SIZE)

    def push_failures_fail_the_run(self) -> bool:
        return True

    def push_batch(self, entries: Sequence[EntrySnapshot]) -> Iterable[PushItem]:
        """One engine batch is one Leena cycle; see connectors/leena/cycle.py for the batch rule."""
        language = self.config.get("language") or DEFAULT_LANGUAGE
        units: list[ArticleUnit] = []
        created: dict[str, bool] = {}
        for entry in entries:
            if entry.deleted:
                logger.info("Leena: entry %s was deleted at its source; its article stays in Leena.", entry.id)
                yield PushSkipped(entry_id=entry.id, reason=SKIPPED_TOMBSTONE)
            elif not has_content(entry):
                yield PushSkipped(entry_id=entry.id, reason=SKIPPED_EMPTY)
            else:
                unit = ArticleUnit(entry_id=entry.id, article=article_of(entry, language, []), files=entry.files)
                created[entry.id] = entry.remote_id != unit.reference_id
                units.append(unit)
        if not units:
            return
        backoff = [float(seconds) for seconds in settings.RETRY_BACKOFF_SECONDS.get()]
        outcome = cycle_publish(self.client(), units, sleep=self.sleep, backoff=backoff)
        for note in outcome.notes:
            yield Warning(note)
        yield from _answers(units, outcome.completed, outcome.complete_error, created)

    def push_finish(self, *, accepted: int) -> Iterable[Warning]:
        self.close()
        return ()

    @classmethod
    def callback_verifier(cls, config: dict[str, Any]) -> CallbackVerifier:
        return LeenaSignature(str(config.get("client_secret") or ""))

    def callback_items(
        self, payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None
    ) -> Iterable[Record | CallbackLogLine | CallbackEntryRefused]:
        """`{"reference_id", "status", "message"}` or `{"articles": [those]}`: a job-log line for
        each, in the log of the run that sent the article; a failed article is due again."""
        return callback_items_of(callback_results_of(payload))


def _answers(
    units: Sequence[ArticleUnit], completed: bool, complete_error: str | None, created: dict[str, bool]
) -> Iterator[PushItem]:
    if completed:
        for unit in units:
            yield PushAccepted(entry_id=unit.entry_id, remote_id=unit.reference_id, created=created[unit.entry_id])
        return
    failed = [unit for unit in units if unit.error]
    why = complete_error or (
        f"{len(failed)} article(s) failed after {len(BACKOFF_SECONDS)} retries (first: {failed[0].reference_id}: "
        f"{failed[0].error})"
    )
    for unit in units:
        if unit.error:
            yield PushFailed(
                entry_id=unit.entry_id, reason=f"Leena did not take article {unit.reference_id}: {unit.error}"
            )
        else:
            yield PushFailed(entry_id=unit.entry_id, reason=f"its cycle did not complete: {why}")


def _clean_url(value: str, example: str) -> tuple[str, str | None]:
    url = value.strip().rstrip("/")
    parts, error = http_url_parts(url)
    if parts is None:
        return value, f"{error} Use an http(s) URL, like {example}."
    if parts.query or parts.fragment or parts.username or parts.password:
        return value, f"Must be the host's address only, without credentials, query or fragment, like {example}."
    return url, None


def _clean_language(value: str) -> tuple[str, str | None]:
    if not LANGUAGE.match(value):
        return value, "Must be a language code like en, de or pt-BR."
    return value, None


def _clean_batch_size(value: Any) -> tuple[int, str | None]:
    if isinstance(value, float):
        if not value.is_integer():
            return value, "Must be a whole number."
        value = int(value)
    if not 1 <= value <= MAX_BATCH_SIZE:
        return value, f"Must be between 1 and {MAX_BATCH_SIZE}."
    return value, None
