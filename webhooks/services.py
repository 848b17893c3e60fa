"""Receiving a verified signed callback: the integration it is for (any whose connector has
`SignedCallbacks`), its verifier and signing secrets, what the payload makes (entries, job-log lines)
and the answer replayed for retries; rotating the secret; pruning old delivery records."""

from __future__ import annotations

import functools
import hashlib
import threading
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cachetools
import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from connectors import registry
from connectors.base import Connector, Record
from connectors.callbacks import CallbackEntryRefused, CallbackLogLine, CallbackMalformed, CallbackVerifier
from connectors.capabilities import SignedCallbacks
from hub.errors import ApiError, ErrorCode
from hub.models import Organisation
from integrations.knowledge.writes import entry_row_params, entry_upsert_one_sql, entry_upsert_returning_id
from integrations.models import Integration
from integrations.runs.ledger import ledger_entry_refused
from webhooks.job_log import callback_log_lines_append
from webhooks.models import WebhookDelivery
from webhooks.signing import TIMESTAMP_TOLERANCE_SECONDS, new_signing_secret

# Each process keeps the integrations it has looked up for a minute: one round trip less per
# delivery. A secret can change (rotation), so a signature that matches none of the kept secrets
# is checked once more against a fresh load before it is refused (see the view). A delivery to
# an integration deleted meanwhile fails the entry's foreign key and is answered 404 all the same.
# Kept in this process's memory, not in Django's cache: a Redis outage cannot lose or fail a delivery
# here (the receive throttle, which does use that cache, lets deliveries through while it is down).
_INTEGRATIONS_SEEN: cachetools.TTLCache = cachetools.TTLCache(maxsize=4096, ttl=60)
_INTEGRATIONS_SEEN_LOCK = threading.Lock()
# A delivery keyed by an unsigned Idempotency-Key is recorded under this prefix and the key's hash,
# so a caller choosing keys can never take a signed `webhook-id` before its sender does.
UNSIGNED_KEY_PREFIX = "idem:"
# How long a delivery record can still stop a replay: a Standard Webhooks timestamp is accepted
# up to the tolerance either side of now, so one signed at the edge stays current for twice that.
REPLAY_WINDOW = timedelta(seconds=2 * TIMESTAMP_TOLERANCE_SECONDS)


@dataclass(frozen=True)
class WebhookReceipt:
    """What the receive endpoint answers: whether an entry was made, and which."""

    accepted: bool
    entry_id: uuid.UUID | None


@dataclass(frozen=True)
class SigningSecret:
    """One secret a signature may be made with: the current one, or the one before a rotation
    until `valid_until`."""

    secret: str
    valid_until: datetime | None

    def valid_at(self, now: datetime) -> bool:
        return self.valid_until is None or now < self.valid_until


@dataclass(frozen=True)
class WebhookTarget:
    """An integration whose connector has signed callbacks, as the receive path needs it: the
    connector built once, its verifier, and the signing secrets unsealed once."""

    integration: Integration
    connector: SignedCallbacks
    verifier: CallbackVerifier
    signing_secrets: tuple[SigningSecret, ...]

    def secrets_valid_at(self, now: datetime) -> list[str]:
        return [secret.secret for secret in self.signing_secrets if secret.valid_at(now)]


def webhook_target_get(*, integration_id: uuid.UUID, fresh: bool = False) -> WebhookTarget | None:
    """The integration behind a receive URL, or None: unknown, and of a connector without signed
    callbacks, alike.

    The one lookup not scoped by an organisation: the caller has no token, so the
    organisation is the integration's own (Knora's security model, point 3). Only found
    integrations are kept, so unknown ids sent by anyone cannot crowd out real ones. `fresh`
    reads the database even when the integration is kept, and keeps what it read.
    """
    target = None
    if not fresh:
        with _INTEGRATIONS_SEEN_LOCK:
            target = _INTEGRATIONS_SEEN.get(integration_id)
    if target is None:
        loaded = _callback_integration_load(integration_id)
        target = None if loaded is None else _target_of(*loaded)
        with _INTEGRATIONS_SEEN_LOCK:
            if target is None:
                _INTEGRATIONS_SEEN.pop(integration_id, None)
                return None
            _INTEGRATIONS_SEEN[integration_id] = target
    return target


def callbacks_class_of(connector_type: str) -> type[SignedCallbacks] | None:
    """The registered connector class of a type when it has signed callbacks, else None."""
    cls = registry.connector_class(connector_type)
    return cls if cls is not None and issubclass(cls, SignedCallbacks) else None


def _target_of(integration: Integration, connector_cls: type[Connector]) -> WebhookTarget:
    config, credentials = integration.config, integration.credentials
    verifier = connector_cls.callback_verifier(config)
    secrets = []
    if verifier.uses_signing_secrets:
        for key, valid_until in (
            ("signing_secret", None),
            ("previous_signing_secret", _previous_valid_until(credentials.get("secret_rotated_at"))),
        ):
            secret = credentials.get(key)
            if isinstance(secret, str) and secret and (key == "signing_secret" or valid_until is not None):
                secrets.append(SigningSecret(secret=secret, valid_until=valid_until))
    return WebhookTarget(
        integration=integration,
        connector=connector_cls(config=config, credentials=credentials),
        verifier=verifier,
        signing_secrets=tuple(secrets),
    )


def _previous_valid_until(rotated_at: Any) -> datetime | None:
    """When the secret before the last rotation stops verifying (WEBHOOK_SECRET_OVERLAP_HOURS)."""
    if not isinstance(rotated_at, str):
        return None
    try:
        rotated = datetime.fromisoformat(rotated_at)
    except ValueError:
        return None
    return rotated + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)


def webhook_target_forget(*, integration_id: uuid.UUID) -> None:
    """Drop this process's copy, so the next delivery reads the integration again."""
    with _INTEGRATIONS_SEEN_LOCK:
        _INTEGRATIONS_SEEN.pop(integration_id, None)


def _callback_integration_load(integration_id: uuid.UUID) -> tuple[Integration, type[Connector]] | None:
    """The integration and its connector class, when that class has signed callbacks. Only the
    columns the receive path uses, like `.only()`, but without building an ORM query on every
    delivery: on the bench that halves the lookup (0.6 -> 0.25 ms)."""
    pk = Integration._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(_LOOKUP_SQL, [pk.get_db_prep_value(integration_id, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    organisation_id, connector_type, config_sealed, credentials_sealed = row
    connector_cls = callbacks_class_of(connector_type)
    if connector_cls is None:
        return None
    # from_db takes the values in the model's field order.
    integration = Integration.from_db(
        connection.alias,
        ["id", "organisation_id", "type", "config_sealed", "credentials_sealed"],
        [
            pk.to_python(integration_id),
            _ORGANISATION_FK.to_python(organisation_id),
            connector_type,
            config_sealed,
            credentials_sealed,
        ],
    )
    return integration, connector_cls


def _lookup_sql() -> str:
    quote, meta = connection.ops.quote_name, Integration._meta

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    return (
        f"SELECT {column('organisation')}, {column('type')}, {column('config_sealed')}, {column('credentials_sealed')}"
        f" FROM {quote(meta.db_table)} WHERE {column('id')} = %s"
    )


_LOOKUP_SQL = _lookup_sql()
_DELIVERY_FIELDS = ("integration", "idempotency_key", "entry", "accepted", "created_at")
_DELIVERY_INSERT_SQL = "INSERT INTO {table} ({columns}) VALUES ({values})".format(
    table=connection.ops.quote_name(WebhookDelivery._meta.db_table),
    columns=", ".join(
        connection.ops.quote_name(WebhookDelivery._meta.get_field(name).column) for name in _DELIVERY_FIELDS
    ),
    values=", ".join(["%s"] * len(_DELIVERY_FIELDS)),
)
_ORGANISATION_FK = Integration._meta.get_field("organisation")


def webhook_receive(
    *,
    target: WebhookTarget,
    payload: dict[str, Any],
    raw_body: bytes,
    signed_id: str | None,
    unsigned_key: str | None,
) -> WebhookReceipt:
    """Keep what a verified payload makes, as its connector says: knowledge entries of the
    integration's organisation, and lines for the integration's sync job log.

    The webhook connector keys its entry by `signed_id` (a Standard Webhooks `webhook-id`), else by
    the body's hash, so an identical body updates the same entry. With a delivery key (the signed
    id, else the unsigned Idempotency-Key), the first answer is recorded atomically with what the
    payload made, and every retry (concurrent ones included) gets it back, adding nothing.
    """
    integration = target.integration
    records, lines, refusals = _callback_items(target, payload, raw_body=raw_body, signed_id=signed_id)
    delivery_key = signed_id or (delivery_key_of_unsigned(unsigned_key) if unsigned_key else None)
    one_record = len(records) == 1 and not (lines or refusals)
    try:
        if one_record or not (records or lines or refusals):
            with _one_statement_scope():
                if delivery_key is None:
                    return _entry_store(integration, records[0] if records else None)
                if one_record and connection.vendor == "postgresql":
                    # The hot path: entry and delivery row in one statement, no BEGIN/COMMIT.
                    entry_id = _entry_and_delivery_insert(integration, records[0], delivery_key)
                    if entry_id is not None:
                        return WebhookReceipt(accepted=True, entry_id=entry_id)
        with transaction.atomic():
            receipt = _items_store(integration, records, lines, refusals)
            if delivery_key is not None:
                _delivery_insert(integration, delivery_key, receipt)
        return receipt
    except IntegrityError:
        # The key was delivered before (or concurrently, and that one committed first). Retries
        # are rare, so they are found here rather than by a lookup before every delivery; the
        # rollback undid whatever this attempt wrote.
        if replay := delivery_key and _delivery_receipt(integration, delivery_key):
            return replay
        if not Integration.objects.filter(pk=integration.pk).exists():
            webhook_target_forget(integration_id=integration.pk)
            raise ApiError(ErrorCode.NOT_FOUND, "Webhook integration not found.") from None
        raise


def _callback_items(
    target: WebhookTarget, payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None
) -> tuple[list[Record], list[CallbackLogLine], list[CallbackEntryRefused]]:
    """The records, job-log lines and refused entries the connector makes of the payload; a record
    from a connector whose callbacks make none is not kept (it is no source). A payload the
    connector cannot read is 400 VALIDATION_ERROR."""
    records: list[Record] = []
    lines: list[CallbackLogLine] = []
    refusals: list[CallbackEntryRefused] = []
    keeps_records = type(target.connector).callbacks_make_records
    try:
        for item in target.connector.callback_items(payload, raw_body=raw_body, signed_id=signed_id):
            if isinstance(item, CallbackLogLine):
                lines.append(item)
            elif isinstance(item, CallbackEntryRefused):
                refusals.append(item)
            elif isinstance(item, Record) and keeps_records:
                records.append(item)
    except CallbackMalformed as exc:
        raise ApiError(ErrorCode.VALIDATION_ERROR, str(exc)) from None
    return records, lines, refusals


def _items_store(
    integration: Integration,
    records: list[Record],
    lines: list[CallbackLogLine],
    refusals: list[CallbackEntryRefused],
) -> WebhookReceipt:
    """Upsert the payload's entries, log its lines and make refused entries due again; call inside a
    transaction. Accepted when anything was kept; the answer names the first entry.

    The lines are logged first: they go to the run that sent each object, which its ledger row
    names only until a refusal clears its acceptance."""
    entry_ids = [entry_upsert_returning_id(integration=integration, record=record) for record in records]
    logged = callback_log_lines_append(integration=integration, lines=lines) is not None if lines else False
    refused = [
        ledger_entry_refused(destination=integration, remote_id=refusal.remote_id, reason=refusal.reason)
        for refusal in refusals
    ]
    return WebhookReceipt(
        accepted=bool(entry_ids) or logged or any(refused), entry_id=entry_ids[0] if entry_ids else None
    )


def _one_statement_scope():
    """A single statement is atomic on its own; inside a caller's transaction it still needs a
    savepoint, so that an IntegrityError leaves that transaction usable."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _entry_and_delivery_insert(integration: Integration, record: Record, delivery_key: str) -> uuid.UUID | None:
    """Upsert the entry and record the delivery in one statement (PostgreSQL's data-modifying
    CTE): no BEGIN/COMMIT round trips. None when the entry was already there, unchanged; then
    nothing was written. IntegrityError when the key was delivered before."""
    delivery_params = [
        WebhookDelivery._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in (("integration", integration.pk), ("idempotency_key", delivery_key),
                            ("created_at", timezone.now()))
    ]  # fmt: skip
    with _prepared_statement_cursor() as cursor:
        cursor.execute(_entry_and_delivery_sql(), [*entry_row_params(integration, record), *delivery_params])
        row = cursor.fetchone()
    return None if row is None else WebhookDelivery._meta.get_field("entry").to_python(row[0])


_NEVER_AUTOMATICALLY = 2**31 - 1


class _QueryAsLogged:
    """Stands in for psycopg's `cursor._query`, the one place Django's query log reads a psycopg 3
    client-binding cursor's SQL (`last_executed_query`): psycopg sets nothing there when it runs a
    prepared statement. The SQL is shown with its parameters bound, as Django shows every other
    statement, and bound only when something reads it (the log is off outside DEBUG and tests)."""

    def __init__(self, conn: psycopg.Connection, sql: str, params) -> None:
        self._conn, self._sql, self._params = conn, sql, params

    @functools.cached_property
    def query(self) -> bytes:
        try:
            with psycopg.ClientCursor(self._conn) as cursor:
                return cursor.mogrify(self._sql, self._params).encode()
        except psycopg.Error:  # parameters that did not adapt: the statement failed before it ran
            return self._sql.encode()


class _PreparingCursor(psycopg.Cursor):
    """Binds on the server and prepares what it runs: Django's cursors interpolate on the client
    (`server_side_binding` off) and Django turns psycopg's automatic preparing off. (A ClientCursor
    never prepares, whatever `prepare` says.)"""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        try:
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)
        finally:
            self._query = _QueryAsLogged(self.connection, query, params)


def _prepared_statement_cursor():
    """A cursor that prepares the hot statement once per connection, so PostgreSQL stops parsing
    and planning the CTE on every delivery (connections persist: CONN_MAX_AGE). psycopg keys a
    prepared statement by its parameter types too, so each pattern of NULL columns (html, source
    dates) is prepared once; its cache (`prepared_max`, 100) bounds them. Wrapped as Django
    wraps its own cursors, so errors are Django's (IntegrityError) and the query log has the SQL.
    Behind a transaction-pooling pgbouncer prepared statements need its `max_prepared_statements`."""
    connection.ensure_connection()
    if connection.connection.prepare_threshold is None:
        # None (Django's default) refuses even an explicit prepare; this high a threshold keeps
        # psycopg from preparing anything else (Django's client-side cursors never prepare).
        connection.connection.prepare_threshold = _NEVER_AUTOMATICALLY
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    return connection._prepare_cursor(raw)


@functools.cache
def _entry_and_delivery_sql() -> str:
    upsert_sql = entry_upsert_one_sql("postgresql")
    quote, meta = connection.ops.quote_name, WebhookDelivery._meta

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    return (
        f"WITH entry AS ({upsert_sql}) "
        f"INSERT INTO {quote(meta.db_table)} ({column('integration')}, {column('idempotency_key')}, "
        f"{column('created_at')}, {column('entry')}, {column('accepted')}) "
        f"SELECT %s, %s, %s, entry.{quote('id')}, TRUE FROM entry RETURNING {column('entry')}"
    )


def _entry_store(integration: Integration, record: Record | None) -> WebhookReceipt:
    """Upsert the payload's entry, if it made one; call inside a transaction."""
    if record is None:
        return WebhookReceipt(accepted=False, entry_id=None)
    # One statement that upserts and returns the id: this is the hot path.
    entry_id = entry_upsert_returning_id(integration=integration, record=record)
    return WebhookReceipt(accepted=True, entry_id=entry_id)


def _delivery_insert(integration: Integration, delivery_key: str, receipt: WebhookReceipt) -> None:
    """WebhookDelivery.objects.create without the ORM's per-row cost (0.6 -> 0.25 ms on the
    bench); nothing listens to its signals. IntegrityError when the key was delivered before."""
    values = (integration.pk, delivery_key, receipt.entry_id, receipt.accepted, timezone.now())
    params = [
        WebhookDelivery._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in zip(_DELIVERY_FIELDS, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_DELIVERY_INSERT_SQL, params)


def _delivery_receipt(integration: Integration, delivery_key: str) -> WebhookReceipt | None:
    row = (
        WebhookDelivery.objects.filter(integration=integration, idempotency_key=delivery_key)
        .values_list("accepted", "entry_id")
        .first()
    )
    if row is None:
        return None
    accepted, entry_id = row
    return WebhookReceipt(accepted=accepted, entry_id=entry_id)


def delivery_key_of_unsigned(key: str) -> str:
    """Where a delivery with an unsigned Idempotency-Key is recorded: never a signed id."""
    return UNSIGNED_KEY_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def webhook_secret_rotate(*, organisation: Organisation, integration_id: uuid.UUID) -> tuple[Integration, str]:
    """A new signing secret for the organisation's integration whose connector verifies its signed
    callbacks with signing secrets (the webhook connector's do); the one it replaces keeps
    verifying for WEBHOOK_SECRET_OVERLAP_HOURS (only the last one: a second rotation within that
    time ends the first secret at once). Returns the integration and the new secret, shown once."""
    integration = (
        Integration.objects.select_for_update()
        .filter(organisation=organisation, id=integration_id, is_pending=False)
        .first()
    )
    if integration is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Integration not found.")
    connector_cls = callbacks_class_of(integration.type)
    if connector_cls is None or not connector_cls.callback_verifier(integration.config).uses_signing_secrets:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            "Only an integration whose signed callbacks use a signing secret has one to rotate.",
        )
    current = integration.credentials.get("signing_secret")
    secret = new_signing_secret()
    credentials: dict[str, Any] = {"signing_secret": secret}
    if isinstance(current, str) and current:
        credentials |= {"previous_signing_secret": current, "secret_rotated_at": timezone.now().isoformat()}
    integration.credentials = credentials
    # Saving drops this process's copy (webhooks.apps); other processes reload on a mismatch.
    integration.save(update_fields=["credentials_sealed", "updated_at"])
    return integration, secret


def webhook_deliveries_prune(*, now: datetime | None = None) -> int:
    """Delete delivery records older than the replay window; returns how many. By then a replay
    of a timestamped delivery is refused by its timestamp, and any delivery, replayed or
    retried, updates the one entry its signed id or body hash keys."""
    cutoff = (now or timezone.now()) - REPLAY_WINDOW
    deleted, _ = WebhookDelivery.objects.filter(created_at__lt=cutoff).delete()
    return deleted
