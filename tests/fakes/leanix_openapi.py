"""Checks every request to and answer from the fake LeanIX against the official Integration API Swagger.

The Swagger 2.0 file (shared/specs/leanix-integration-api.swagger2.json) was converted once to
OpenAPI 3 by swagger2openapi (tests/fixtures/leanix/README.md says how); openapi-core checks against
that file. Two defects of the file are known and patched here in memory, each exactly, and nothing
else is relaxed:
- `POST /synchronizationRuns` answers `{"id": ...}` (the seed's and LeanIX's own examples), where the
  file says a list of StatusResponse: the answer may be either.
- `Content.data` declares every value an object (`additionalProperties: {type: object}`), where the
  seed's own LDIF has strings and lists: a value may be any JSON value.
Requests outside the file (the MTM token endpoint) are counted, not validated; so are answers with a
status the file does not describe (429, 5xx) and error answers without a body schema.
"""

from __future__ import annotations

import copy
import json
import threading
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI

from tests.fakes.openapi_exchange import ExchangeRequest, SpecResponse

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "leanix" / "leanix-integration-api.openapi3.json"
SPEC_HOST = "https://fake.leanix.net"
API_PREFIX = "/services/integration-api/v1"


@cache
def leanix_spec() -> OpenAPI:
    raw = json.loads(SPEC_PATH.read_text())
    return OpenAPI.from_dict(patched(raw), config=Config(spec_validator_cls=None))


def patched(raw: dict[str, Any]) -> dict[str, Any]:
    """The file with its two known defects corrected (see the module's docstring)."""
    spec = copy.deepcopy(raw)
    created = spec["paths"]["/synchronizationRuns"]["post"]["responses"]["200"]["content"]["application/json"]
    status_response = {"$ref": "#/components/schemas/StatusResponse"}
    created["schema"] = {"oneOf": [{"type": "array", "items": status_response}, status_response]}
    spec["components"]["schemas"]["Content"]["properties"]["data"]["additionalProperties"] = {}
    # The base path is the server's path: requests are checked as if sent to the fake host.
    spec["servers"] = [{"url": SPEC_HOST + API_PREFIX}]
    return spec


@dataclass
class SpecRequest(ExchangeRequest):
    host_url: str = SPEC_HOST


@dataclass
class SpecCheck:
    """Every exchange the fake had, checked; `violations` must stay empty in every test."""

    requests_checked: int = 0
    responses_checked: int = 0
    outside_the_file: int = 0
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enabled: bool = True

    def check(self, request: SpecRequest, response: SpecResponse) -> None:
        if not self.enabled:
            return
        if not request.path.startswith(API_PREFIX):
            with self.lock:
                self.outside_the_file += 1
            return
        openapi = leanix_spec()
        where = f"{request.method.upper()} {request.path}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core warns that it does not check oauth2 schemes
            request_problem = _problem(lambda: openapi.validate_request(request))
            described = 200 <= response.status_code < 300 or (response.status_code == 400 and bool(response.data))
            response_problem = _problem(lambda: openapi.validate_response(request, response)) if described else ""
        with self.lock:
            self.requests_checked += 1
            self.responses_checked += described
            if request_problem:
                self.violations.append(f"request {where}: {request_problem}")
            if response_problem:
                self.violations.append(f"response {response.status_code} to {where}: {response_problem}")


def _problem(validate) -> str:
    try:
        validate()
    except Exception as exc:  # openapi-core raises a family of errors; any of them is a finding
        errors = getattr(exc.__cause__, "schema_errors", None) or []
        detail = "; ".join(error.message for error in errors) if errors else str(exc.__cause__ or "")
        return f"{type(exc).__name__}: {exc} {detail}".strip()
    return ""
