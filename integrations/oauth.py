"""The OAuth popup flow: start (state + PKCE + authorize URL) and callback (verify, exchange, store).

The `state` sent to the provider is an AES-GCM-sealed {state id, nonce}, under a key derived from
SECRET_KEY for this purpose only (hub.keys.OAUTH_STATE): unguessable, signed and encrypted. The
server keeps the single-use OAuthState record with only the nonce's hash.

A grant always lands as a new pending integration with a fresh id, invisible to every endpoint,
that only `POST /` with `pending_integration_id` turns into a usable one, within the state's TTL.
That id reaches nobody but the page the callback posts to on FRONTEND_ORIGIN, so a consent given
in another browser leaves the admin who started the flow nothing to see or use
(docs/security/oauth.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from connectors import registry
from connectors.base import Connector
from connectors.capabilities import OAuthPopup
from connectors.errors import UpstreamError
from hub import keys
from hub.auth import TenantAuth
from hub.errors import ApiError, ErrorCode
from integrations.models import Integration, IntegrationStatus, OAuthState
from integrations.selectors import usable_integrations
from integrations.services import plan_limit_check

logger = logging.getLogger(__name__)


class OAuthFlowError(Exception):
    """A callback that cannot finish; the message is shown to the person in the popup."""

    def __init__(self, message: str, connector: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.connector = connector


@dataclass(frozen=True)
class OAuthSuccess:
    connector: str
    account: str
    integration_id: uuid.UUID


def redirect_uri() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("integrations:oauth-callback")


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _oauth_connector_class(connector_type: str) -> type[Connector]:
    connector_cls = registry.connector_class(connector_type)
    if connector_cls is None:
        raise ApiError(ErrorCode.UNKNOWN_CONNECTOR, f"Connector type {connector_type!r} is not registered.")
    if not issubclass(connector_cls, OAuthPopup):
        raise ApiError(ErrorCode.OAUTH_NOT_SUPPORTED, f"Connector {connector_type!r} does not use the OAuth popup.")
    if not connector_cls.oauth_configured():
        raise ApiError(ErrorCode.OAUTH_CONFIG_ERROR, "OAuth client credentials are not configured on the server.")
    return connector_cls


def _parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(ErrorCode.INVALID_PARAM, f"{name} is not a valid UUID.") from None


def oauth_start(*, auth: TenantAuth, connector_type: str | None, org_id: str | None, integration_id: str | None) -> str:
    """Checks in order: params, org, connector, server config, re-authorised record, plan limit."""
    if not connector_type or not org_id:
        missing = [name for name, value in (("connector", connector_type), ("org_id", org_id)) if not value]
        raise ApiError(ErrorCode.MISSING_PARAM, f"Missing query parameter: {', '.join(missing)}.")
    if _parse_uuid(org_id, "org_id") != auth.organisation.id:
        raise ApiError(ErrorCode.FORBIDDEN, "org_id must be your own organisation.")
    connector_cls = _oauth_connector_class(connector_type)
    integration = None
    if integration_id:
        # A pending record cannot be re-authorised: it is invisible, and the flow that made it can start over.
        integration = (
            usable_integrations(organisation=auth.organisation)
            .filter(id=_parse_uuid(integration_id, "integration_id"), type=connector_type)
            .first()
        )
        if integration is None:
            raise ApiError(ErrorCode.INVALID_PARAM, "integration_id names no integration of this connector.")
    else:
        plan_limit_check(organisation=auth.organisation)
    nonce = secrets.token_urlsafe(32)
    verifier, challenge = _pkce_pair()
    state = OAuthState(
        organisation=auth.organisation,
        connector_type=connector_type,
        started_by=auth.membership.user,
        integration=integration,
        nonce_hash=hashlib.sha256(nonce.encode()).hexdigest(),
        expires_at=timezone.now() + timedelta(seconds=settings.OAUTH_STATE_TTL_SECONDS),
    )
    state.pkce = {"verifier": verifier}
    state.save()
    token = state_seal({"sid": str(state.id), "nonce": nonce})
    connector = connector_cls(config={})
    return connector.authorization_url(state=token, redirect_uri=redirect_uri(), code_challenge=challenge)


def state_seal(claims: dict[str, str]) -> str:
    """The `state` parameter: sealed under the OAuth-state key, never the field-encryption key."""
    return keys.purpose_seal(json.dumps(claims).encode(), secret=settings.SECRET_KEY, purpose=keys.OAUTH_STATE)


def _consume_state(token: str) -> tuple[OAuthState, str]:
    """The state record, marked used; a forged, expired or replayed state is refused."""
    try:
        claims = json.loads(keys.purpose_unseal(token, secret=settings.SECRET_KEY, purpose=keys.OAUTH_STATE))
        state_id, nonce = uuid.UUID(claims["sid"]), str(claims["nonce"])
    except (keys.PurposeSealError, ValueError, KeyError, TypeError):
        raise OAuthFlowError("This sign-in link is not valid. Please start again.") from None
    with transaction.atomic():
        state = OAuthState.objects.select_for_update().filter(id=state_id).first()
        expected = state.nonce_hash if state else ""
        if state is None or not hmac.compare_digest(expected, hashlib.sha256(nonce.encode()).hexdigest()):
            raise OAuthFlowError("This sign-in link is not valid. Please start again.")
        # A conditional update, so two parallel uses cannot both pass.
        if not OAuthState.objects.filter(id=state.id, used_at__isnull=True).update(used_at=timezone.now()):
            raise OAuthFlowError("This sign-in link was already used. Please start again.", state.connector_type)
    if state.expires_at < timezone.now():
        raise OAuthFlowError("This sign-in link has expired. Please try again.", state.connector_type)
    return state, state.pkce.get("verifier")


def oauth_callback(*, state_token: str | None, code: str | None, error: str | None) -> OAuthSuccess:
    if not state_token:
        raise OAuthFlowError("The provider sent no state. Please start again.")
    state, verifier = _consume_state(state_token)
    connector_type = state.connector_type
    if error:
        message = "Access denied by user." if error == "access_denied" else f"The provider refused: {error[:100]}."
        raise OAuthFlowError(message, connector_type)
    if not code:
        raise OAuthFlowError("The provider sent no authorization code.", connector_type)
    connector_cls = registry.connector_class(connector_type)
    if connector_cls is None:
        raise OAuthFlowError("This connector is no longer available.", connector_type)
    try:
        grant = connector_cls(config={}).exchange_code(code=code, redirect_uri=redirect_uri(), code_verifier=verifier)
    except UpstreamError:
        raise OAuthFlowError("The provider did not accept the sign-in. Please try again.", connector_type) from None
    except Exception as exc:
        # A token endpoint answering something unexpected still gets the popup its error page, never a 500.
        # Only the type is logged: the exception's text may quote the provider's answer, tokens included.
        logger.warning("OAuth code exchange for %s failed: %s", connector_type, type(exc).__name__)
        raise OAuthFlowError("The provider did not accept the sign-in. Please try again.", connector_type) from None
    if not isinstance(grant.credentials, dict) or not isinstance(grant.account, str):
        raise OAuthFlowError("The provider did not accept the sign-in. Please try again.", connector_type)
    integration = _pending_grant_create(state, connector_cls, grant.credentials, grant.account)
    return OAuthSuccess(connector=connector_type, account=grant.account, integration_id=integration.id)


def _pending_grant_create(
    state: OAuthState, connector_cls: type[Connector], credentials: dict, account: str
) -> Integration:
    """A new pending record holding the grant, finalisable until the state's own expiry.

    Even a re-authorisation lands here (with `pending_for` naming the integration): writing the grant
    straight onto it would make a consent given in another browser usable at once.
    """
    target = state.integration
    integration = Integration(
        organisation=state.organisation,
        type=state.connector_type,
        is_pending=True,
        pending_until=state.expires_at,
        pending_for=target,
        status=IntegrationStatus.INACTIVE,
        created_by=state.started_by,
        name=(target.name if target else f"{connector_cls.info.display_name} ({account})")[:255],
    )
    integration.config = {}
    integration.credentials = credentials
    integration.save(force_insert=True)
    return integration


def oauth_leftovers_delete(*, now: datetime | None = None) -> dict[str, int]:
    """Delete pending grants past their window and OAuth states that are used or expired."""
    now = now or timezone.now()
    # A pending record from before `pending_until` existed can never be finalised: it goes after the TTL.
    created_before = now - timedelta(seconds=settings.OAUTH_STATE_TTL_SECONDS)
    expired = Q(pending_until__lt=now) | Q(pending_until__isnull=True, created_at__lt=created_before)
    _, pending = Integration.objects.filter(expired, is_pending=True).delete()
    _, states = OAuthState.objects.filter(Q(used_at__isnull=False) | Q(expires_at__lt=now)).delete()
    return {
        "pending_integrations": pending.get(Integration._meta.label, 0),
        "oauth_states": states.get(OAuthState._meta.label, 0),
    }
