"""A reusable OAuth 2.0 authorization-code capability (with PKCE) for popup connectors."""

from __future__ import annotations

import time
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.conf import settings

from connectors.base import OAuthGrant
from connectors.capabilities import OAuthPopup
from connectors.errors import CredentialExpired, UpstreamError
from connectors.http import UpstreamHttpClient


def provider_settings(provider: str | None) -> dict[str, Any]:
    return dict(getattr(settings, "OAUTH_PROVIDERS", {}).get(provider or "", {}))


class OAuth2AuthorizationCode(OAuthPopup):
    """Endpoints and client credentials come from settings.OAUTH_PROVIDERS[cls.provider]."""

    extra_authorize_params: ClassVar[dict[str, str]] = {}
    # Atlassian wants the token request as JSON; most providers take a form.
    token_request_as_json: ClassVar[bool] = False

    @classmethod
    def oauth_configured(cls) -> bool:
        provider = provider_settings(cls.provider)
        return bool(provider.get("client_id") and provider.get("client_secret"))

    @classmethod
    def _provider(cls) -> dict[str, Any]:
        return provider_settings(cls.provider)

    def authorization_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        provider = self._provider()
        params = {
            "client_id": provider["client_id"],
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(provider.get("scopes", [])),
            "state": state,
            **self.extra_authorize_params,
        }
        if code_challenge and self.supports_pkce:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{provider['authorize_url']}?{urlencode(params)}"

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> OAuthGrant:
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier and self.supports_pkce:
            grant["code_verifier"] = code_verifier
        tokens = self._token_request(grant)
        credentials = self._credentials_from(tokens, previous={})
        return OAuthGrant(credentials=credentials, account=self.account_for(tokens))

    def refresh_credentials(self) -> dict[str, Any]:
        refresh_token = self.credentials.get("refresh_token")  # type: ignore[attr-defined]
        if not refresh_token:
            raise CredentialExpired("No refresh token is stored; connect the account again.")
        tokens = self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        credentials = self._credentials_from(tokens, previous=self.credentials)  # type: ignore[attr-defined]
        # Refresh tokens may rotate: persist the new pair before anything uses it.
        self.credentials_changed(credentials)  # type: ignore[attr-defined]
        return credentials

    def account_for(self, tokens: dict[str, Any]) -> str:
        """The account the tokens belong to; connectors may ask the upstream instead."""
        return str(tokens.get("email") or tokens.get("account") or self.provider)

    def _token_request(self, grant: dict[str, str]) -> dict[str, Any]:
        provider = self._provider()
        body = {**grant, "client_id": provider["client_id"], "client_secret": provider["client_secret"]}
        payload = {"json": body} if self.token_request_as_json else {"data": body}
        # Named after the provider, so a failure says whose token endpoint (step and status follow).
        upstream = f"{self.provider or 'OAuth'} token endpoint"
        with UpstreamHttpClient(base_url=provider["token_url"], upstream=upstream, max_attempts=2) as client:
            response = client.post(provider["token_url"], headers={"Accept": "application/json"}, **payload)
            tokens = client.json_of(response)  # MalformedResponse for an HTML page or a body that is not JSON
        if (
            not isinstance(tokens, dict)
            or not isinstance(tokens.get("access_token"), str)
            or not tokens["access_token"]
        ):
            raise UpstreamError("The token endpoint answered without an access token.")
        try:
            int(tokens.get("expires_in") or 0)
        except (TypeError, ValueError, OverflowError):
            raise UpstreamError("The token endpoint answered with an unreadable expiry.") from None
        return tokens

    @staticmethod
    def _credentials_from(tokens: dict[str, Any], *, previous: dict[str, Any]) -> dict[str, Any]:
        expires_in = tokens.get("expires_in")
        return {
            "access_token": tokens["access_token"],
            "refresh_token": tokens.get("refresh_token", previous.get("refresh_token")),
            "token_type": tokens.get("token_type", "Bearer"),
            "scope": tokens.get("scope", previous.get("scope")),
            "expires_at": int(time.time()) + int(expires_in) if expires_in else None,
        }
