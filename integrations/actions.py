"""Connector actions: list an integration's actions, and run one with checked input."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from connectors.actions import validate_action_input
from connectors.base import ActionInputInvalid, ActionSpec
from connectors.capabilities import Actions
from connectors.errors import NotFoundUpstream, RateLimited, UpstreamError
from hub.errors import ApiError, ErrorCode
from hub.models import Membership, Role
from integrations.models import Integration
from integrations.services import connector_class_or_error, connector_for_request

logger = logging.getLogger(__name__)
# Who may run an action: reading the upstream needs manager, changing it admin.
ROLE_FOR_KIND = {"read": Role.MANAGER, "write": Role.ADMIN}


def _actions_class(integration: Integration) -> type[Actions]:
    connector_cls = connector_class_or_error(integration.type)
    if not issubclass(connector_cls, Actions) or not connector_cls.actions:
        raise ApiError(
            ErrorCode.ACTIONS_NOT_SUPPORTED, f"The {connector_cls.info.display_name} connector has no actions."
        )
    return connector_cls


def action_list(*, integration: Integration) -> list[dict[str, Any]]:
    specs: tuple[ActionSpec, ...] = _actions_class(integration).actions
    return [{**dataclasses.asdict(spec), "required_role": ROLE_FOR_KIND[spec.kind].value} for spec in specs]


def action_spec_get(*, integration: Integration, name: str) -> ActionSpec:
    connector_cls = _actions_class(integration)
    spec = connector_cls.action_spec(name)
    if spec is None:
        names = ", ".join(s.name for s in connector_cls.actions)
        raise ApiError(ErrorCode.NOT_FOUND, f"Unknown action {name!r}.", {"actions": [f"One of: {names}."]})
    return spec


def action_permission_check(*, membership: Membership, spec: ActionSpec) -> None:
    """Role by the action's kind; a write also needs an active subscription, as POST /sync does."""
    needed = ROLE_FOR_KIND[spec.kind]
    if not membership.has_role(needed):
        message = f"The action {spec.name} requires the {needed.value} role or higher."
        raise ApiError(ErrorCode.INSUFFICIENT_ROLE, message)
    if spec.kind == "write" and membership.organisation.subscription_required:
        raise ApiError(ErrorCode.SUBSCRIPTION_REQUIRED)


def action_run(*, integration: Integration, spec: ActionSpec, payload: Any) -> dict[str, Any]:
    """Run the action; bad input is a 400 on its fields, upstream refusals keep their status and message."""
    try:
        cleaned = validate_action_input(spec, payload)
        connector = connector_for_request(integration)
        return connector.run_action(spec.name, cleaned)  # type: ignore[attr-defined]  # an Actions, checked above
    except ActionInputInvalid as exc:
        raise ApiError(ErrorCode.VALIDATION_ERROR, "The action input is invalid.", exc.field_errors) from exc
    except UpstreamError as exc:
        raise _upstream_api_error(spec, exc) from exc


def _upstream_api_error(spec: ActionSpec, exc: UpstreamError) -> ApiError:
    said = getattr(exc, "upstream_message", "") or ""
    details = {"upstream_status": exc.status_code, "upstream_message": said or exc.message}
    if exc.status_code == 409:
        message = f"The object changed upstream since the version you gave ({said or 'version conflict'})."
        return ApiError(ErrorCode.CONFLICT, message, details)
    if isinstance(exc, NotFoundUpstream):
        return ApiError(ErrorCode.NOT_FOUND, f"Upstream 404 for {spec.name}: {said or 'not found'}", details)
    if isinstance(exc, RateLimited):
        return ApiError(ErrorCode.RATE_LIMITED, f"The upstream is rate limiting {spec.name}; try again later.", details)
    logger.info("Action %s failed upstream: %s", spec.name, exc.message)
    return ApiError(ErrorCode.UPSTREAM_ERROR, f"The upstream refused {spec.name}: {exc.message}", details)
