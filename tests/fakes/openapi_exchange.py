"""One exchange a fake upstream had, in the shape openapi-core validates: shared by the fakes whose
requests and answers are checked against an official API description (Confluence's, LeanIX's)."""

from __future__ import annotations

from dataclasses import dataclass

from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


@dataclass
class ExchangeRequest:
    """openapi-core's Request protocol for one request the fake received; `host_url` is the server the
    description names, as if the request had been sent there."""

    path: str
    method: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None
    content_type: str
    host_url: str = ""

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(self.headers), cookie=ImmutableMultiDict(), path={}
        )


@dataclass
class SpecResponse:
    status_code: int
    data: bytes
    headers: dict[str, str]
    content_type: str = "application/json"
