"""Checks requests to and answers from the fake Confluence against Atlassian's own v2 description.

The file is loaded with spec validation off (it fails strict validation on a few enum defaults).
Two defects of the file are known and tolerated, each exactly: the overlapping `oneOf` of page
bodies ("is valid under each of"; the body is then checked against `PageBodyWrite` itself, as
it is for every page write, since the loose `oneOf` lets nearly any object through); and
answers with a status the file does not describe (409, 429, 503) or with an error body it does
not describe, which are counted, not validated.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from openapi_core import Config, OpenAPI

from tests.fakes.openapi_exchange import ExchangeRequest, SpecResponse

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "specs" / "confluence-cloud-v2.openapi.json"
# The file's only server is https://{your-domain}/wiki/api/v2: requests are checked as if sent there.
SPEC_HOST = "https://fake-site.atlassian.net"
OVERLAPPING_ONE_OF = "is valid under each of"
DESCRIBED_ANSWERS = range(200, 300)


@cache
def v2_spec() -> tuple[OpenAPI, dict[str, Any]]:
    if not SPEC_PATH.is_file():
        raise FileNotFoundError(f"{SPEC_PATH} is missing: the tests read shared/specs/ beside the checkout.")
    raw = json.loads(SPEC_PATH.read_text())
    return OpenAPI.from_dict(raw, config=Config(spec_validator_cls=None)), raw


@dataclass
class SpecRequest(ExchangeRequest):
    host_url: str = SPEC_HOST


@dataclass
class SpecCheck:
    """Every exchange the fake had, checked; `violations` must stay empty in every test."""

    requests_checked: int = 0
    responses_checked: int = 0
    undescribed_answers: int = 0
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, request: SpecRequest, response: SpecResponse) -> None:
        openapi, raw = v2_spec()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core warns that it does not check oauth2 schemes
            problems = self._request_problems(openapi, raw, request)
            response_problem, described = self._response_problem(openapi, request, response)
        with self.lock:
            self.requests_checked += 1
            self.responses_checked += described
            self.undescribed_answers += not described
            where = f"{request.method.upper()} {request.path}"
            self.violations += [f"request {where}: {problem}" for problem in problems]
            if response_problem:
                self.violations.append(f"response {response.status_code} to {where}: {response_problem}")

    @staticmethod
    def _request_problems(openapi: OpenAPI, raw: dict[str, Any], request: SpecRequest) -> list[str]:
        try:
            openapi.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of errors; any of them is a finding
            errors = getattr(exc.__cause__, "schema_errors", None) or []
            if not (errors and all(OVERLAPPING_ONE_OF in error.message for error in errors)):
                detail = "; ".join(error.message for error in errors) if errors else str(exc.__cause__ or "")
                return [f"{type(exc).__name__}: {exc} {detail}".strip()]
        if request.method in ("post", "put") and request.path.startswith("/wiki/api/v2/pages"):
            # The loose `oneOf` lets almost any object through as a "nested" body: check the branch meant.
            return _body_write_problems(raw, request)
        return []

    @staticmethod
    def _response_problem(openapi: OpenAPI, request: SpecRequest, response: SpecResponse) -> tuple[str, bool]:
        if response.status_code not in DESCRIBED_ANSWERS or not response.data:
            return "", False
        try:
            openapi.validate_response(request, response)
        except Exception as exc:
            errors = getattr(exc.__cause__, "schema_errors", None) or []
            detail = "; ".join(error.message for error in errors) if errors else ""
            return f"{type(exc).__name__}: {exc} {detail}".strip(), True
        return "", True


def _body_write_problems(raw: dict[str, Any], request: SpecRequest) -> list[str]:
    """The page body checked against the file's `PageBodyWrite`, the branch a client means."""
    schema = raw["components"]["schemas"]["PageBodyWrite"]
    body = json.loads(request.body or b"{}").get("body")
    if isinstance(body, dict) and "representation" not in body:
        return []  # the nested form ({"storage": {...}}), which the file describes without overlap
    validator = jsonschema.Draft4Validator(schema)
    return [f"body: {error.message}" for error in validator.iter_errors(body)]
