"""The one JSON error envelope: error codes, the business exception, and the handlers that render it."""

from __future__ import annotations

import enum
import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# What a database that is restarting or unreachable raises: the request may be retried (a 503 with
# Retry-After), it is not the server's bug (a 500).
DATABASE_DOWN_ERRORS = (OperationalError, InterfaceError)
DATABASE_DOWN_RETRY_AFTER = 5
DATABASE_DOWN_MESSAGE = "The database did not answer; retry later."


class ErrorCode(enum.Enum):
    """Every error code the API can return, with its HTTP status."""

    VALIDATION_ERROR = 400
    MISSING_PARAM = 400
    INVALID_PARAM = 400
    UNKNOWN_CONNECTOR = 400
    OAUTH_NOT_SUPPORTED = 400
    ACTIONS_NOT_SUPPORTED = 400
    UNAUTHORIZED = 401
    SUBSCRIPTION_REQUIRED = 402
    INSUFFICIENT_ROLE = 403
    ORG_NOT_FOUND = 403
    PLAN_UPGRADE_REQUIRED = 403
    FORBIDDEN = 403
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    NOT_ACCEPTABLE = 406
    CONFLICT = 409
    PAYLOAD_TOO_LARGE = 413
    UNSUPPORTED_MEDIA_TYPE = 415
    RATE_LIMITED = 429
    INTERNAL_ERROR = 500
    OAUTH_CONFIG_ERROR = 500
    UPSTREAM_ERROR = 502
    # Ours, beside Knora's codes: a service the request needs (the task queue) cannot be reached.
    SERVICE_UNAVAILABLE = 503

    # Enum members with equal values would alias each other, so the code is the name.
    def __new__(cls, status: int) -> ErrorCode:
        member = object.__new__(cls)
        member._value_ = object()  # unique per member
        member.status = status
        return member

    @property
    def code(self) -> str:
        return self.name


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.VALIDATION_ERROR: "The request is invalid.",
    ErrorCode.UNAUTHORIZED: "Authentication credentials were not provided or are invalid.",
    ErrorCode.SUBSCRIPTION_REQUIRED: "The organisation's trial has ended or its subscription is inactive.",
    ErrorCode.INSUFFICIENT_ROLE: "Your role does not allow this action.",
    ErrorCode.ORG_NOT_FOUND: "The organisation in the token no longer exists.",
    ErrorCode.PLAN_UPGRADE_REQUIRED: "The organisation is at its plan's integration limit.",
    ErrorCode.FORBIDDEN: "Forbidden.",
    ErrorCode.NOT_FOUND: "Not found.",
    ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed.",
    ErrorCode.CONFLICT: "Conflict.",
    ErrorCode.PAYLOAD_TOO_LARGE: "The request body is too large.",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "Unsupported media type.",
    ErrorCode.RATE_LIMITED: "Too many requests.",
    ErrorCode.INTERNAL_ERROR: "An unexpected error occurred.",
    ErrorCode.UPSTREAM_ERROR: "The upstream system refused or failed the request.",
}


class ApiError(drf.APIException):
    """A business error: one code from ErrorCode, a message for people, optional details."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.error_code = code
        self.status_code = code.status
        self.message = message or DEFAULT_MESSAGES.get(code, code.code.replace("_", " ").capitalize())
        self.details = details
        super().__init__(detail=self.message, code=code.code)


def envelope(code: ErrorCode, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code.code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


_DRF_CODES: list[tuple[type[drf.APIException], ErrorCode]] = [
    (drf.ValidationError, ErrorCode.VALIDATION_ERROR),
    (drf.ParseError, ErrorCode.VALIDATION_ERROR),
    (drf.NotAuthenticated, ErrorCode.UNAUTHORIZED),
    (drf.AuthenticationFailed, ErrorCode.UNAUTHORIZED),
    (drf.PermissionDenied, ErrorCode.FORBIDDEN),
    (drf.NotFound, ErrorCode.NOT_FOUND),
    (drf.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (drf.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf.Throttled, ErrorCode.RATE_LIMITED),
]


def _detail_text(detail: Any) -> str:
    """A readable sentence from a DRF detail; simplejwt's token errors carry a dict."""
    if isinstance(detail, dict) and "detail" in detail:
        return str(detail["detail"])
    return str(detail)


def _as_api_error(exc: Exception) -> ApiError:
    """Translate any exception into an ApiError; unknown ones become INTERNAL_ERROR."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Http404):
        return ApiError(ErrorCode.NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        return ApiError(ErrorCode.FORBIDDEN)
    if isinstance(exc, RequestDataTooBig):
        return ApiError(ErrorCode.PAYLOAD_TOO_LARGE)
    if isinstance(exc, drf.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return ApiError(ErrorCode.VALIDATION_ERROR, "Some fields are invalid.", details)
    if isinstance(exc, drf.ParseError):
        return ApiError(ErrorCode.VALIDATION_ERROR, f"Malformed request body: {exc.detail}")
    if isinstance(exc, drf.PermissionDenied):
        # Permission classes carry their own code (e.g. INSUFFICIENT_ROLE) on the detail.
        detail_code = getattr(exc.detail, "code", None)
        code = ErrorCode.__members__.get(str(detail_code), ErrorCode.FORBIDDEN)
        return ApiError(code, str(exc.detail))
    for exc_type, code in _DRF_CODES:
        if isinstance(exc, exc_type):
            return ApiError(code, _detail_text(exc.detail))
    if isinstance(exc, DATABASE_DOWN_ERRORS):
        logger.warning("Request not served: the database did not answer (%s)", type(exc).__name__)
        return ApiError(ErrorCode.SERVICE_UNAVAILABLE, DATABASE_DOWN_MESSAGE)
    logger.exception("Unhandled error", exc_info=exc)
    return ApiError(ErrorCode.INTERNAL_ERROR)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error from a DRF view leaves in the envelope."""
    error = _as_api_error(exc)
    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))
    if isinstance(exc, DATABASE_DOWN_ERRORS):
        headers["Retry-After"] = str(DATABASE_DOWN_RETRY_AFTER)
    return Response(
        envelope(error.error_code, error.message, error.details),
        status=error.status_code,
        headers=headers,
    )


def error_response(code: ErrorCode, message: str | None = None, details: Any = None) -> JsonResponse:
    """The envelope as a plain Django response, for views outside DRF."""
    error = ApiError(code, message, details)
    return JsonResponse(envelope(code, error.message, details), status=code.status)


def is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


class ApiErrorMiddleware:
    """Keeps Django's own 404/500 pages (and DEBUG pages) out of /api/: the envelope instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api_path(request) and response.status_code == 404 and not _is_json(response):
            return error_response(ErrorCode.NOT_FOUND)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request):
            return None
        error = _as_api_error(exception)
        response = JsonResponse(envelope(error.error_code, error.message, error.details), status=error.status_code)
        if isinstance(exception, DATABASE_DOWN_ERRORS):
            response["Retry-After"] = str(DATABASE_DOWN_RETRY_AFTER)
        return response


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request):
        return error_response(ErrorCode.NOT_FOUND)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request):
        return error_response(ErrorCode.INTERNAL_ERROR)
    from django.views.defaults import server_error

    return server_error(request)
