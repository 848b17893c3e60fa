"""Atlassian OAuth 2.0 (3LO): hosts from the connector's settings, the cloud id, rotating refresh tokens."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from connectors.base import OAuthGrant
from connectors.confluence import settings
from connectors.errors import CredentialExpired, UpstreamError
from connectors.http import UpstreamHttpClient
from connectors.oauth2 import OAuth2AuthorizationCode
from connectors.turns import turn_lent

# Refresh this long before the access token's stated expiry, so a call never races it.
EXPIRY_MARGIN_SECONDS = 60
# One per process, not per connector: refreshes are an hour apart per grant, and the threads that race
# for one are a run's slices.
_REFRESH_LOCK = threading.Lock()


def _expiring(credentials: dict[str, Any]) -> bool:
    expires_at = credentials.get("expires_at")
    return bool(expires_at) and expires_at - EXPIRY_MARGIN_SECONDS <= time.time()


def api_url() -> str:
    return settings.API_URL.get().rstrip("/")


def gateway_root(cloud_id: str) -> str:
    """Where 3LO calls go: a 3LO token sent to the site's own host gets 401."""
    return f"{api_url()}/ex/confluence/{cloud_id}"


class AtlassianOAuth(OAuth2AuthorizationCode):
    """The popup flow of the `atlassian` provider; every host is a setting so tests can use fakes."""

    provider: ClassVar[str] = "atlassian"

    # Atlassian's 3LO does not take PKCE; the sealed state carries the CSRF protection.
    supports_pkce: ClassVar[bool] = False
    token_request_as_json: ClassVar[bool] = True
    extra_authorize_params: ClassVar[dict[str, str]] = {"audience": "api.atlassian.com", "prompt": "consent"}

    @classmethod
    def oauth_configured(cls) -> bool:
        provider = cls._provider()
        return bool(provider["client_id"] and provider["client_secret"])

    @classmethod
    def _provider(cls) -> dict[str, Any]:
        auth_url = settings.AUTH_URL.get().rstrip("/")
        return {
            "authorize_url": f"{auth_url}/authorize",
            "token_url": f"{auth_url}/oauth/token",
            "client_id": settings.CLIENT_ID.get(),
            "client_secret": settings.CLIENT_SECRET.get(),
            "scopes": list(settings.SCOPES.get() or settings.SCOPES.default),
        }

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> OAuthGrant:
        grant = super().exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        site = self._confluence_site(grant.credentials["access_token"])
        credentials = {**grant.credentials, "cloud_id": site["id"], "site_url": site["url"]}
        return OAuthGrant(credentials=credentials, account=site["url"])

    def _confluence_site(self, access_token: str) -> dict[str, Any]:
        """The first site the grant reaches with a Confluence scope (GET accessible-resources)."""
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        with UpstreamHttpClient(base_url=api_url(), upstream="Confluence", headers=headers, max_attempts=2) as client:
            resources = client.get_json("/oauth/token/accessible-resources")
        sites = [r for r in resources or [] if isinstance(r, dict) and r.get("id") and r.get("url")]
        confluence = [s for s in sites if any("confluence" in scope for scope in s.get("scopes") or [])]
        if not (confluence or sites):
            raise UpstreamError("The Atlassian account gave access to no Confluence site.")
        return (confluence or sites)[0]

    def refresh_credentials(self) -> dict[str, Any]:
        """A new access token; the rotated refresh token is stored (sealed) before anything uses it.

        One refresh at a time in a process: the slices of a run share one grant and, when its access
        token expires, are refused at the same moment. The first refreshes; the others, waiting their
        turn, take the tokens it got (a refresh of their own would spend a refresh token the first had
        just rotated away).
        """
        refused = self.credentials.get("access_token")  # type: ignore[attr-defined]
        # Waited for without a turn to compute: the holder may be waiting for one (connectors.turns).
        with turn_lent(), _REFRESH_LOCK:
            now = self.credentials  # type: ignore[attr-defined]
            if now.get("access_token") != refused and now.get("access_token") and not _expiring(now):
                return now  # refreshed by another thread while this one waited
            return self._refresh_adopting_stored()

    def _refresh_adopting_stored(self) -> dict[str, Any]:
        """Another process (a sync, an action) may have rotated the tokens since this one read them:
        its refresh token is then dead, and reusing it after Atlassian's leeway would revoke the
        whole family. So the stored credentials are read first, and adopted if they are newer.
        """
        mine = self.credentials  # type: ignore[attr-defined]
        stored = self.stored_credentials()  # type: ignore[attr-defined]
        if stored.get("refresh_token") and stored.get("refresh_token") != mine.get("refresh_token"):
            self.credentials = stored  # type: ignore[attr-defined]
            if stored.get("access_token") != mine.get("access_token") and not _expiring(stored):
                return stored
        try:
            return super().refresh_credentials()
        except UpstreamError as exc:
            if exc.status_code in (400, 401, 403):  # invalid_grant: rotated away, revoked or expired
                raise CredentialExpired(
                    f"Atlassian refused the refresh token ({exc.status_code}); connect the account again.",
                    status_code=exc.status_code,
                ) from exc
            raise

    @staticmethod
    def _credentials_from(tokens: dict[str, Any], *, previous: dict[str, Any]) -> dict[str, Any]:
        credentials = OAuth2AuthorizationCode._credentials_from(tokens, previous=previous)
        # The token response has no cloud id: keep the site the grant was made for.
        return {**credentials, **{key: previous[key] for key in ("cloud_id", "site_url") if key in previous}}

    def access_token_fresh(self) -> str:
        """The stored access token, refreshed first when it is about to expire."""
        if _expiring(self.credentials):  # type: ignore[attr-defined]
            self.refresh_credentials()
        token = self.credentials.get("access_token")  # type: ignore[attr-defined]
        if not token:
            raise CredentialExpired("No Atlassian access token is stored; connect the account again.")
        return token
