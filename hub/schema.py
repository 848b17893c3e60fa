"""OpenAPI: the bearer scheme, the one error envelope, and every error status an operation can answer.

`ErrorAwareAutoSchema` (DRF's DEFAULT_SCHEMA_CLASS) derives each operation's error answers from what
DRF will do with the view, so a new view is described truthfully without a decorator of its own:

| status   | described when the operation ...                                                    |
|----------|-------------------------------------------------------------------------------------|
| 400      | takes a body or query parameters (VALIDATION_ERROR, MISSING_PARAM, INVALID_PARAM)    |
| 401, 403 | authenticates with the JWT (UNAUTHORIZED; INSUFFICIENT_ROLE, ORG_NOT_FOUND)          |
| 402      | has SubscriptionActive among its permissions (SUBSCRIPTION_REQUIRED)                 |
| 404      | has path parameters (another organisation's object is a 404 too)                      |
| 406      | is a DRF view (content negotiation: JSON only)                                       |
| 413, 415 | takes a body (BoundedJSONParser's size limit; JSON only)                             |
| 429      | has throttles (RATE_LIMITED, with Retry-After)                                       |

Statuses a view answers for its own reasons (409, 502, OAuth's 500) are added in its @extend_schema
with `responses={200: Output, **errors(502)}`. Plain Django views (the webhook receiver, the OAuth
callback) are described by the documentation views in `hub.schema_views`, which the generator puts in
place of the real callback at the real URL, with exactly the statuses they declare.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from hub.errors import ErrorCode
from hub.permissions import SubscriptionActive

ERROR_CODE_CHOICES = [(code.code, code.code) for code in ErrorCode]

# What each status means here, with the codes it can carry.
STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "The request is invalid (VALIDATION_ERROR, MISSING_PARAM, INVALID_PARAM, UNKNOWN_CONNECTOR, "
    "OAUTH_NOT_SUPPORTED, ACTIONS_NOT_SUPPORTED); `details` names the fields.",
    401: "No access token, or an invalid or expired one (UNAUTHORIZED).",
    402: "The organisation's trial has ended or its subscription is inactive (SUBSCRIPTION_REQUIRED).",
    403: "The role does not allow this, the organisation is gone, or the plan limit is reached "
    "(INSUFFICIENT_ROLE, ORG_NOT_FOUND, PLAN_UPGRADE_REQUIRED, FORBIDDEN).",
    404: "Not found, or another organisation's (NOT_FOUND).",
    405: "Method not allowed (METHOD_NOT_ALLOWED).",
    406: "The Accept header allows no JSON (NOT_ACCEPTABLE).",
    409: "The object changed upstream (CONFLICT).",
    413: "The request body is too large (PAYLOAD_TOO_LARGE).",
    415: "The body is not application/json (UNSUPPORTED_MEDIA_TYPE).",
    429: "Too many requests; wait for Retry-After seconds when it is sent (RATE_LIMITED).",
    500: "The server is not configured for this (OAUTH_CONFIG_ERROR).",
    502: "The upstream system refused or failed the request (UPSTREAM_ERROR).",
    503: "A service the request needs, the task queue or the database, cannot be reached; retry after "
    "Retry-After seconds (SERVICE_UNAVAILABLE).",
}


class ErrorBody(serializers.Serializer):
    code = serializers.ChoiceField(choices=ERROR_CODE_CHOICES)
    message = serializers.CharField()
    details = serializers.JSONField(required=False, help_text="Field errors or other facts; left out when empty.")


class ErrorEnvelope(serializers.Serializer):
    """Every error under /api/ has this one shape."""

    error = ErrorBody()


class ListOutput(serializers.Serializer):
    """Base of an answer that wraps a list (`{"integrations": [...], "total": 2}`): its GET is a `_list`."""


def errors(*statuses: int) -> dict[int, type[ErrorEnvelope]]:
    """Error answers a view declares beside the derived ones: `responses={200: Out, **errors(502)}`."""
    return dict.fromkeys(statuses, ErrorEnvelope)


class ErrorAwareAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers DRF gives for the view (table above)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self.derived_error_statuses(operation):
            responses.setdefault(str(status), self._get_response_for_code(ErrorEnvelope, str(status)))
        for status, response in responses.items():
            if int(status) >= 400:
                _describe_error_response(int(status), response)
        operation["responses"] = dict(sorted(responses.items()))
        if getattr(self.view, "schema_plain_view", False):
            # The signature or the sealed state authenticates, never a JWT.
            operation["security"] = []
        return operation

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        answer = self.get_response_serializers()
        if isinstance(answer, dict):
            answer = next((serializer for status, serializer in answer.items() if str(status).startswith("2")), None)
        if self.method == "GET" and isinstance(force_instance(answer), ListOutput):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def derived_error_statuses(self, operation: dict[str, Any]) -> set[int]:
        if getattr(self.view, "schema_plain_view", False):
            return set()  # not DRF: exactly what its documentation view declares
        view = self.view
        statuses = {406}
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        if "path" in locations:
            statuses.add(404)
        if "query" in locations:
            statuses.add(400)
        if "requestBody" in operation:
            statuses |= {400, 413, 415}
        permissions = view.get_permissions()
        if view.get_authenticators():
            statuses |= {401, 403}
        if any(not isinstance(permission, AllowAny) for permission in permissions):
            statuses |= {401, 403}
        if any(isinstance(permission, SubscriptionActive) for permission in permissions):
            statuses.add(402)
        if view.get_throttles():
            statuses.add(429)
        return statuses


def _describe_error_response(status: int, response: dict[str, Any]) -> None:
    if not response.get("description"):
        response["description"] = STATUS_DESCRIPTIONS.get(status, "An error, in the envelope.")
    if status == 429:
        response.setdefault("headers", {})["Retry-After"] = {
            "schema": {"type": "integer"},
            "description": "Seconds to wait before trying again.",
        }
    if status == 401:
        response.setdefault("headers", {})["WWW-Authenticate"] = {
            "schema": {"type": "string"},
            "description": "The scheme to authenticate with (Bearer).",
        }


class PlainViewEnumerator(EndpointEnumerator):
    """DRF's endpoints, plus the plain Django views that `hub.schema_views` documents, at their own URLs."""

    def _get_api_endpoints(self, patterns, prefix):
        endpoints = super()._get_api_endpoints(patterns, prefix)
        from hub.schema_views import documentation_view

        for pattern in self.patterns if patterns is None else patterns:
            if not isinstance(pattern, URLPattern):
                continue
            documented = documentation_view(pattern.callback)
            if documented is None:
                continue
            path_regex = prefix + str(pattern.pattern)
            callback = documented.as_view()
            for method in self.get_allowed_methods(callback):
                endpoints.append((self.get_path_from_regex(path_regex), path_regex, method, callback))
        return endpoints


class TributarySchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = PlainViewEnumerator


class OrgJWTScheme(SimpleJWTScheme):
    target_class = "hub.auth.OrgJWTAuthentication"
    name = "jwtAuth"
