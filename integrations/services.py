"""Integration services: create, finalise, update, delete, plan gating, live probe and preview."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors import registry
from connectors.base import ConfigInvalid, Connector, PreviewResult, ProbeResult
from connectors.capabilities import SOURCES_FIELD, Preview, Probe, PushDestination, SignedCallbacks
from connectors.errors import ConnectorUnavailable, UpstreamError
from hub.errors import ApiError, ErrorCode
from hub.models import Membership, Organisation, Role, User
from integrations.models import Integration, IntegrationStatus
from integrations.selectors import integration_count
from integrations.sources import source_ids_parse, sources_errors
from webhooks.signing import new_signing_secret

logger = logging.getLogger(__name__)

# A schedule longer than a year is a typo, not a plan.
MAX_SYNC_INTERVAL_MINUTES = 525_600


class _NotGiven:
    """A PATCH field left out (None is a value there: `sync_interval_minutes: null` means manual only)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def connector_class_or_error(connector_type: str) -> type[Connector]:
    connector_cls = registry.connector_class(connector_type)
    if connector_cls is None:
        known = sorted(cls.info.type for cls in registry.all_connectors())
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            f"Unknown connector type {connector_type!r}.",
            details={"type": [f"Must be one of: {', '.join(known)}."]},
        )
    return connector_cls


def validated_config(connector_cls: type[Connector], config: dict[str, Any]) -> dict[str, Any]:
    try:
        return connector_cls.validate_config(config)
    except ConfigInvalid as exc:
        details = {f"config.{key}": messages for key, messages in exc.field_errors.items()}
        raise ApiError(ErrorCode.VALIDATION_ERROR, "The connector config is invalid.", details) from exc


def organisation_config(
    connector_cls: type[Connector],
    config: dict[str, Any],
    *,
    organisation_id: Any,
    integration_id: Any = None,
    accepted_sources: Any = None,
) -> dict[str, Any]:
    """`validated_config`, plus what only the organisation can tell: a destination's `sources` must name
    its own source integrations (reported as `config.sources`, like any other config field).

    `accepted_sources` is the stored value on a PATCH: ids accepted before and deleted since are kept
    (they drop out when the destination runs) rather than refusing every later edit of the config."""
    clean = validated_config(connector_cls, config)
    if any(field.key == SOURCES_FIELD.key for field in connector_cls.info.config_schema):
        message = sources_errors(
            organisation_id=organisation_id,
            value=clean.get(SOURCES_FIELD.key),
            destination_id=integration_id,
            accepted=source_ids_parse(accepted_sources),
        )
        if message:
            details = {f"config.{SOURCES_FIELD.key}": [message]}
            raise ApiError(ErrorCode.VALIDATION_ERROR, "The connector config is invalid.", details)
    return clean


def schedule_check(connector_cls: type[Connector], *, sync_interval_minutes: Any, run_after_sources: Any) -> None:
    """The schedule fields, checked here too so every caller (not only the API's serializers) is held to them."""
    errors: dict[str, list[str]] = {}
    if sync_interval_minutes is not NOT_GIVEN and sync_interval_minutes is not None:
        if isinstance(sync_interval_minutes, bool) or not isinstance(sync_interval_minutes, int):
            errors["sync_interval_minutes"] = ["A valid integer is required."]
        elif not 1 <= sync_interval_minutes <= MAX_SYNC_INTERVAL_MINUTES:
            errors["sync_interval_minutes"] = [f"Must be between 1 and {MAX_SYNC_INTERVAL_MINUTES} (a year), or null."]
    if run_after_sources is not NOT_GIVEN and not isinstance(run_after_sources, bool):
        errors["run_after_sources"] = ["Must be true or false."]
    elif run_after_sources is True and not issubclass(connector_cls, PushDestination):
        errors["run_after_sources"] = [
            "Only a destination can run after its sources; this connector publishes nothing."
        ]
    if errors:
        raise ApiError(ErrorCode.VALIDATION_ERROR, "Some fields are invalid.", errors)


def _schedule_apply(integration: Integration, *, sync_interval_minutes: Any, run_after_sources: Any) -> list[str]:
    """Set the schedule fields that were given; returns the columns changed."""
    fields = []
    if sync_interval_minutes is not NOT_GIVEN:
        integration.sync_interval_minutes = sync_interval_minutes
        fields.append("sync_interval_minutes")
    if run_after_sources is not NOT_GIVEN:
        integration.run_after_sources = run_after_sources
        fields.append("run_after_sources")
    return fields


def plan_limit_check(*, organisation: Organisation) -> None:
    """403 PLAN_UPGRADE_REQUIRED when the organisation has as many integrations as its plan allows."""
    limit = organisation.plan.max_integrations
    if limit is not None and integration_count(organisation=organisation) >= limit:
        raise ApiError(
            ErrorCode.PLAN_UPGRADE_REQUIRED,
            f"The {organisation.plan.name} plan allows {limit} integration(s); upgrade to add more.",
            details={"plan": organisation.plan.code, "max_integrations": limit},
        )


def webhook_url(integration: Integration) -> str:
    # The path is fixed by Knora's document.
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/integrations/webhook/{integration.id}/receive"


def integration_create(
    *,
    organisation: Organisation,
    user: User | None,
    type: str,
    name: str,
    config: dict[str, Any],
    sync_interval_minutes: int | None = None,
    run_after_sources: bool = False,
) -> tuple[Integration, dict[str, Any]]:
    """Create an integration. Returns it and what is shown only once (a webhook's secret and URL)."""
    connector_cls = connector_class_or_error(type)
    schedule_check(connector_cls, sync_interval_minutes=sync_interval_minutes, run_after_sources=run_after_sources)
    if connector_cls.probe_on_create:
        # Checked before the live call (same order of errors), and again under the lock below.
        plan_limit_check(organisation=organisation)
        clean_config = organisation_config(connector_cls, config, organisation_id=organisation.id)
        credentials_live_check(connector_cls, clean_config)
    return _integration_create_locked(
        organisation=organisation,
        user=user,
        connector_cls=connector_cls,
        name=name,
        config=config,
        schedule={"sync_interval_minutes": sync_interval_minutes, "run_after_sources": run_after_sources},
    )


def credentials_live_check(connector_cls: type[Connector], config: dict[str, Any]) -> None:
    """The connector's probe on a config not yet stored: refused credentials are a 400 on the config."""
    _probe_result_check(connector_cls(config=config))


def _probe_result_check(connector: Connector) -> None:
    try:
        result = connector.probe()  # type: ignore[attr-defined]
    except UpstreamError as exc:
        raise ApiError(ErrorCode.UPSTREAM_ERROR, f"Could not check the credentials: {exc.message}") from exc
    if not result.healthy:
        raise ApiError(ErrorCode.VALIDATION_ERROR, "The credentials were refused.", {"config": [result.message]})


@transaction.atomic
def _integration_create_locked(
    *,
    organisation: Organisation,
    user: User | None,
    connector_cls: type[Connector],
    name: str,
    config: dict[str, Any],
    schedule: dict[str, Any],
) -> tuple[Integration, dict[str, Any]]:
    type = connector_cls.info.type
    # Lock the organisation row so two concurrent creates cannot both pass the plan limit.
    Organisation.objects.select_for_update().filter(id=organisation.id).first()
    plan_limit_check(organisation=organisation)
    clean_config = organisation_config(connector_cls, config, organisation_id=organisation.id)
    integration = Integration(organisation=organisation, type=type, name=name, created_by=user, **schedule)
    integration.config = clean_config
    shown_once: dict[str, Any] = {}
    integration.credentials = {}
    if issubclass(connector_cls, SignedCallbacks):
        shown_once = {"webhook_url": webhook_url(integration)}
        # A signing secret only where callbacks are verified with one (Leena's use its client secret).
        if connector_cls.callback_verifier(clean_config).uses_signing_secrets:
            signing_secret = new_signing_secret()
            integration.credentials = {"signing_secret": signing_secret}
            shown_once = {"signing_secret": signing_secret, **shown_once}
    integration.save()
    return integration, shown_once


@transaction.atomic
def integration_finalize_pending(
    *,
    organisation: Organisation,
    user: User,
    pending_id: uuid.UUID,
    type: str,
    name: str,
    config: dict[str, Any],
    sync_interval_minutes: Any = NOT_GIVEN,
    run_after_sources: Any = NOT_GIVEN,
) -> Integration:
    """Turn a pending OAuth grant into a usable integration.

    Under the organisation's lock: the caller must still be an admin, the grant still within its window,
    and a new integration must fit the plan (pending records do not count; this is where one starts to).
    A pending re-authorisation moves its tokens onto the integration it names instead.
    """
    Organisation.objects.select_for_update().filter(id=organisation.id).first()
    _admin_recheck(organisation=organisation, user=user)
    integration = (
        Integration.objects.select_for_update()
        .filter(organisation=organisation, id=pending_id, is_pending=True, pending_until__gt=timezone.now())
        .first()
    )
    if integration is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Pending integration not found.")
    if integration.type != type:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            "The type does not match the pending integration.",
            details={"type": [f"The pending integration is of type {integration.type!r}."]},
        )
    connector_cls = connector_class_or_error(type)
    schedule = {"sync_interval_minutes": sync_interval_minutes, "run_after_sources": run_after_sources}
    schedule_check(connector_cls, **schedule)
    if integration.pending_for_id is not None:
        return _reauthorisation_apply(
            pending=integration, connector_cls=connector_cls, name=name, config=config, schedule=schedule
        )
    plan_limit_check(organisation=organisation)
    integration.config = organisation_config(
        connector_cls, config, organisation_id=organisation.id, integration_id=integration.id
    )
    integration.name = name
    integration.is_pending = False
    integration.pending_until = None
    integration.status = IntegrationStatus.ACTIVE
    fields = ["config_sealed", "name", "is_pending", "pending_until", "status", "updated_at"]
    fields += _schedule_apply(integration, **schedule)
    integration.save(update_fields=fields)
    return integration


def _admin_recheck(*, organisation: Organisation, user: User) -> None:
    """The role, read again under a row lock: a demotion since the request's permission check counts."""
    membership = Membership.objects.select_for_update().filter(organisation=organisation, user=user).first()
    if membership is None or not membership.has_role(Role.ADMIN):
        raise ApiError(ErrorCode.INSUFFICIENT_ROLE, f"This action requires the {Role.ADMIN.value} role or higher.")


def _reauthorisation_apply(
    *, pending: Integration, connector_cls: type[Connector], name: str, config: dict[str, Any], schedule: dict[str, Any]
) -> Integration:
    """The new tokens onto the integration; its config changes only when one is given."""
    target = (
        Integration.objects.select_for_update()
        .filter(organisation_id=pending.organisation_id, id=pending.pending_for_id, is_pending=False)
        .first()
    )
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND, "The integration to re-authorise no longer exists.")
    target.credentials = pending.credentials
    target.name = name
    fields = ["credentials_sealed", "name", "updated_at"]
    if config:
        target.config = organisation_config(
            connector_cls,
            config,
            organisation_id=target.organisation_id,
            integration_id=target.id,
            accepted_sources=target.config.get(SOURCES_FIELD.key),
        )
        fields.append("config_sealed")
    fields += _schedule_apply(target, **schedule)
    if target.status == IntegrationStatus.ERROR:
        target.status = IntegrationStatus.ACTIVE
        fields.append("status")
    target.save(update_fields=fields)
    pending.delete()
    return target


def integration_update(
    *,
    integration: Integration,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    sync_interval_minutes: Any = NOT_GIVEN,
    run_after_sources: Any = NOT_GIVEN,
    sources: Any = NOT_GIVEN,
) -> Integration:
    """Rename, reconfigure or reschedule; only the columns changed are written, so a running sync's
    checkpoint and rotated tokens survive a PATCH made from a row read before them.

    `sources` (ours: a list of ids) replaces a destination's config.sources alone, which a `config`
    patch cannot do without resending every other field."""
    fields = ["updated_at"]
    schedule = {"sync_interval_minutes": sync_interval_minutes, "run_after_sources": run_after_sources}
    if any(value is not NOT_GIVEN for value in schedule.values()):
        schedule_check(connector_class_or_error(integration.type), **schedule)
    if name is not None:
        integration.name = name
        fields.append("name")
    if config is not None:
        connector_cls = connector_class_or_error(integration.type)
        stored_sources = integration.config.get(SOURCES_FIELD.key)
        rebound = _secret_binding_changed(connector_cls, stored=integration.config, given=config)
        if rebound:
            # The stored secrets were given for another host or account: never send them to the new one.
            _resent_secrets_check(connector_cls, stored=integration.config, given=config)
            merged = dict(config)
        else:
            # Secret fields left out of a PATCH keep their stored value, so a form need not resend them.
            merged = {**_secret_fields(connector_cls, integration.config), **config}
        integration.config = organisation_config(
            connector_cls,
            merged,
            organisation_id=integration.organisation_id,
            integration_id=integration.id,
            accepted_sources=stored_sources,
        )
        fields.append("config_sealed")
        if rebound:
            # Cached tokens (an access token, an OAuth grant) belong to the old host or account.
            integration.credentials = {}
            fields.append("credentials_sealed")
        if connector_cls.probe_on_create:
            # New credentials or a new selection are checked live, with the stored tokens if any.
            _probe_result_check(connector_for_request(integration))
    if sources is not NOT_GIVEN:
        _sources_apply(integration, sources)
        if "config_sealed" not in fields:
            fields.append("config_sealed")
    fields += _schedule_apply(integration, **schedule)
    integration.save(update_fields=fields)
    return integration


def _sources_apply(integration: Integration, sources: list[Any]) -> None:
    connector_cls = connector_class_or_error(integration.type)
    if not any(field.key == SOURCES_FIELD.key for field in connector_cls.info.config_schema):
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            "Only a destination has sources.",
            {"sources": ["This connector is not a destination."]},
        )
    stored = integration.config
    config = {**stored, SOURCES_FIELD.key: ",".join(str(value) for value in sources)}
    integration.config = organisation_config(
        connector_cls,
        config,
        organisation_id=integration.organisation_id,
        integration_id=integration.id,
        accepted_sources=stored.get(SOURCES_FIELD.key),
    )


def _secret_binding_changed(connector_cls: type[Connector], *, stored: dict[str, Any], given: dict[str, Any]) -> bool:
    """Does the PATCH name a new place or account (a `binds_secrets` field changed to a non-empty value)?"""
    try:
        # Compared as the connector would store them (a site URL without `/wiki`, stripped text).
        candidate = connector_cls.validate_config({**_secret_fields(connector_cls, stored), **given})
    except ConfigInvalid:
        candidate = {key: value.strip() if isinstance(value, str) else value for key, value in given.items()}
    keys = [field.key for field in connector_cls.info.config_schema if field.binds_secrets]
    return any(candidate.get(key) not in (None, "") and candidate.get(key) != stored.get(key) for key in keys)


def _resent_secrets_check(connector_cls: type[Connector], *, stored: dict[str, Any], given: dict[str, Any]) -> None:
    missing = [
        field.key
        for field in connector_cls.info.config_schema
        if field.type == "password" and not given.get(field.key) and (field.required or stored.get(field.key))
    ]
    if missing:
        message = "This field changed where or as whom the connector connects; send every secret again."
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            "The stored secrets are not kept when the connection's address or account changes.",
            details={f"config.{key}": [message] for key in missing},
        )


def _secret_fields(connector_cls: type[Connector], config: dict[str, Any]) -> dict[str, Any]:
    secret_keys = {field.key for field in connector_cls.info.config_schema if field.type == "password"}
    return {key: value for key, value in config.items() if key in secret_keys}


def integration_delete(*, integration: Integration) -> None:
    """Delete the integration; its jobs, entries and deliveries go with it."""
    integration.delete()


def connector_for(integration: Integration) -> Connector:
    """The connector instance for an integration; rotated credentials are saved sealed at once.

    Used in workers too, so it raises connector errors (ConnectorUnavailable), never an HTTP error;
    request paths use `connector_for_request`."""
    connector_cls = registry.connector_class(integration.type)
    if connector_cls is None:
        raise ConnectorUnavailable(f"Connector {integration.type!r} is not available.")

    def save_credentials(credentials: dict[str, Any]) -> None:
        integration.credentials = credentials
        Integration.objects.filter(pk=integration.pk).update(
            credentials_sealed=integration.credentials_sealed, updated_at=timezone.now()
        )

    def load_credentials() -> dict[str, Any]:
        stored = Integration.objects.filter(pk=integration.pk).first()
        return stored.credentials if stored is not None else integration.credentials

    return connector_cls(
        config=integration.config,
        credentials=integration.credentials,
        save_credentials=save_credentials,
        load_credentials=load_credentials,
    )


def connector_for_request(integration: Integration) -> Connector:
    """`connector_for` in a request: a connector that is not available is a 400 VALIDATION_ERROR."""
    try:
        return connector_for(integration)
    except ConnectorUnavailable as exc:
        raise ApiError(ErrorCode.VALIDATION_ERROR, exc.message) from exc


def health_body(integration: Integration, *, healthy: bool, message: str) -> dict[str, Any]:
    return {
        "integration_id": integration.id,
        "status": integration.status,
        "healthy": healthy,
        "message": message,
        "checked_at": timezone.now(),
    }


STATUS_MESSAGES = {
    IntegrationStatus.ACTIVE: "Connection is active.",
    IntegrationStatus.SYNCING: "A sync is running.",
    IntegrationStatus.INACTIVE: "The integration is inactive.",
    IntegrationStatus.ERROR: "The last sync failed; see the sync history.",
}


def integration_health(*, integration: Integration) -> dict[str, Any]:
    """Structural health from the database alone (a pending record never gets here: it is a 404)."""
    healthy = integration.status in (IntegrationStatus.ACTIVE, IntegrationStatus.SYNCING)
    return health_body(integration, healthy=healthy, message=STATUS_MESSAGES[integration.status])


def integration_probe(*, integration: Integration) -> dict[str, Any]:
    """Live probe through the connector; an upstream refusal marks the integration `error`."""
    connector = connector_for_request(integration)
    if not isinstance(connector, Probe):
        return health_body(integration, healthy=False, message="This connector cannot be probed.")
    try:
        result: ProbeResult = connector.probe()
    except UpstreamError as exc:
        result = ProbeResult(healthy=False, message=exc.message)
    if not result.healthy and integration.status != IntegrationStatus.SYNCING:
        integration.status = IntegrationStatus.ERROR
        integration.save(update_fields=["status", "updated_at"])
    elif result.healthy and integration.status == IntegrationStatus.ERROR:
        integration.status = IntegrationStatus.ACTIVE
        integration.save(update_fields=["status", "updated_at"])
    return health_body(integration, healthy=result.healthy, message=result.message)


def integration_preview(*, integration: Integration) -> dict[str, Any]:
    connector = connector_for_request(integration)
    result = None
    if isinstance(connector, Preview):
        try:
            result = connector.preview()
        except UpstreamError as exc:
            raise ApiError(ErrorCode.UPSTREAM_ERROR, f"The upstream refused the preview: {exc.message}") from exc
    if result is None and isinstance(connector, PushDestination):
        from integrations.runs.push import push_preview  # the run engine imports this module

        result = push_preview(integration)
    if result is None:
        result = PreviewResult(summary="This connector cannot estimate its data.", items=[], estimated_entries=None)
    return {
        "integration_id": integration.id,
        "connector_type": integration.type,
        "summary": result.summary,
        "items": [{"label": item.label, "count": item.count} for item in result.items],
        "estimated_entries": result.estimated_entries,
        "previewed_at": timezone.now(),
    }
