"""What a signed callback is made of: how a connector's callbacks are verified, and the job-log lines
a payload may become (a destination's asynchronous status reports) beside records (a source's data).

The `SignedCallbacks` capability (connectors.capabilities) names a `CallbackVerifier` and turns a
verified payload into `Record`s and `CallbackLogLine`s; the hub's receive view (webhooks.views) does
the rest: it reads the bounded body, asks the verifier, parses the JSON and renders the answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

LogLevel = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class CallbackLogLine:
    """A line for the integration's sync job log, e.g. "job 7 finished" or "article 12 failed: ..."."""

    level: LogLevel
    message: str
    # The upstream object the line is about (an article, a page), when it names one.
    external_id: str | None = None


class CallbackMalformed(Exception):
    """The signature headers are missing or not well-formed: 400 VALIDATION_ERROR, nothing verified yet."""


class CallbackRefused(Exception):
    """The signature is stale or matches no signing secret: 403 FORBIDDEN."""


class CallbackVerifier(ABC):
    """How a callback's signature is checked: over the raw bytes, in constant time, before anything
    parses the body. Built once per integration (from its config) and kept while the hub keeps it."""

    # Whether the signatures are made with the integration's signing secrets (issued at `POST /`,
    # renewed by `rotate-secret`); a verifier that checks something else sets this False.
    uses_signing_secrets: ClassVar[bool] = True

    @abstractmethod
    def verify(self, *, headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str], now: float) -> str | None:
        """The id the sender signed (it keys the entry and the delivery), or None when the scheme signs none.

        `headers` is case-insensitive; `secrets` are the integration's signing secrets valid now (the
        current one first); `now` is Unix time. Raises CallbackMalformed or CallbackRefused.
        """
