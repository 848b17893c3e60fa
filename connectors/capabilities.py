"""What a connector can do, as small typed interfaces; Knora's `auth_flow` and `provider` and our
direction are derived from them, never declared beside them.

A connector class subclasses `Connector` and the capabilities it has; code asks
`isinstance(connector, PushDestination)` (or `issubclass` on the class), never a string key.
Each method a capability needs is abstract, so a class that claims one and leaves a method out
cannot be instantiated (and the contract test names it).
"""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from connectors.base import (
    ActionSpec,
    Checkpoint,
    ConfigField,
    Connector,
    EntrySnapshot,
    OAuthGrant,
    PreviewResult,
    ProbeResult,
    PullItem,
    PushItem,
    Record,
    Warning,
)
from connectors.callbacks import CallbackEntryRefused, CallbackLogLine, CallbackVerifier

AuthFlow = Literal["api_key", "oauth_popup"]
Direction = Literal["source", "destination", "both"]


class Probe(ABC):
    """A live check of the stored credentials against the upstream."""

    @abstractmethod
    def probe(self) -> ProbeResult: ...


class Preview(ABC):
    """A cheap, read-only estimate of what the next sync would import (None from a destination that
    pushes only, as configured: the hub then counts what is due from its push ledger)."""

    @abstractmethod
    def preview(self) -> PreviewResult | None: ...


class PullSource(ABC):
    """Yields records, deletions, failures and checkpoints from `checkpoint` on."""

    @abstractmethod
    def pull(self, checkpoint: dict[str, Any]) -> Iterator[PullItem]: ...


@dataclass(frozen=True)
class SlicePlan:
    """The independent slices of one pull, as `SlicedPull.pull_slices` opens them.

    `pull_slice(name, state)` yields one slice's items from its own saved state on; its Checkpoints
    carry that slice's state alone. It is called from several threads at once, so it must not share
    mutable state with other slices. `notes` (warnings, say) come before any slice; `finish`, called
    once every slice has ended, gets the whole checkpoint and may yield more items (deletions that
    only all slices together can prove) and a last whole Checkpoint."""

    slices: tuple[str, ...]
    pull_slice: Callable[[str, dict[str, Any]], Iterator[PullItem]]
    notes: tuple[PullItem, ...] = ()
    finish: Callable[[dict[str, Any]], Iterator[PullItem]] | None = None


class SlicedPull(PullSource):
    """A pull made of independent slices (Haiilo: entity types; Confluence: spaces), each with its own
    checkpoint at `checkpoint[slices_key][name]`, which the run engine pulls concurrently."""

    slices_key: ClassVar[str]

    @abstractmethod
    def pull_slices(self, checkpoint: dict[str, Any]) -> AbstractContextManager[SlicePlan]:
        """The plan of a pull from `checkpoint`, its resources (an HTTP client) open until the exit."""

    def pull(self, checkpoint: dict[str, Any]) -> Iterator[PullItem]:
        """The slices one after another, each Checkpoint made whole: for callers without the engine."""
        whole, states = slice_states(checkpoint, self.slices_key)
        with self.pull_slices(whole) as plan:
            yield from plan.notes
            for name in plan.slices:
                for item in plan.pull_slice(name, slice_state(states, name)):
                    if isinstance(item, Checkpoint):
                        states[name] = item.state
                        item = Checkpoint(copy.deepcopy(whole))
                    yield item
            if plan.finish is not None:
                yield from plan.finish(copy.deepcopy(whole))


def slice_states(checkpoint: dict[str, Any], slices_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of the checkpoint and, in it, the slices' states (a stored value that is no mapping is
    dropped: that slice starts over, as a new one would)."""
    whole = copy.deepcopy(checkpoint)
    if not isinstance(whole.get(slices_key), dict):
        whole[slices_key] = {}
    return whole, whole[slices_key]


def slice_state(states: dict[str, Any], name: str) -> dict[str, Any]:
    state = states.get(name)
    return copy.deepcopy(state) if isinstance(state, dict) else {}


class PushDestination(ABC):
    """Receives the knowledge entries that are due, in batches, and says what became of each.

    The engine (integrations.runs.push) offers an entry when it is new, changed since the content hash
    this destination last accepted, or tombstoned since it was accepted; it records every answer in
    the push ledger after each batch, so what failed is offered again next run and what was accepted
    is not offered twice. An entry the batch leaves unanswered counts as failed.
    """

    # Entries per batch; a connector whose config carries a batch size overrides `push_batch_size`.
    push_batch_size_default: ClassVar[int] = 100

    def push_batch_size(self) -> int:
        return self.push_batch_size_default

    def push_enabled(self) -> bool:
        """Does this run push at all? A two-way connector whose config turns the push off says False."""
        return True

    def push_failures_fail_the_run(self) -> bool:
        """Does an entry that failed fail the job at the end (naming each), rather than completing it
        with the failures counted and logged? Either way the run goes on and they stay due."""
        return False

    @abstractmethod
    def push_batch(self, entries: Sequence[EntrySnapshot]) -> Iterable[PushItem]:
        """One PushAccepted, PushFailed or PushSkipped per entry (by `entry_id`), and any Warning."""

    def push_finish(self, *, accepted: int) -> Iterable[Warning]:
        """Called once after the last batch of a run that got that far (e.g. to start remote indexing)."""
        return ()


# The config field every destination declares: which integrations' entries it publishes.
SOURCES_FIELD = ConfigField(
    key="sources",
    label="Sources",
    type="text",
    required=False,
    placeholder="Integration ids, comma-separated",
    help_text="The integrations whose entries this destination publishes; empty means every source.",
)


class OAuthPopup(ABC):
    """The browser OAuth popup flow (authorization code, PKCE where supported) of one provider."""

    # Knora's `provider` of the connector: which OAuth app signs the user in (e.g. "atlassian").
    provider: ClassVar[str]
    supports_pkce: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def oauth_configured(cls) -> bool:
        """Are the provider's client credentials set on this server?"""

    @abstractmethod
    def authorization_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str: ...

    @abstractmethod
    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> OAuthGrant: ...

    @abstractmethod
    def refresh_credentials(self) -> dict[str, Any]: ...


class Actions(ABC):
    """Declared actions, run with input already checked against their fields."""

    actions: ClassVar[tuple[ActionSpec, ...]] = ()

    @classmethod
    def action_spec(cls, name: str) -> ActionSpec | None:
        return next((spec for spec in cls.actions if spec.name == name), None)

    @abstractmethod
    def run_action(self, name: str, input: dict[str, Any]) -> dict[str, Any]: ...


class SignedCallbacks(ABC):
    """The upstream posts signed callbacks to the hub's receive URL: the connector says how they are
    verified and what a verified payload becomes, records (a source's data) or job-log lines (a
    destination's asynchronous status reports); the hub's one receive path (webhooks) does the rest."""

    # False for a connector whose callbacks only report on its runs: it is then no source for that.
    callbacks_make_records: ClassVar[bool] = True

    @classmethod
    def callback_verifier(cls, config: dict[str, Any]) -> CallbackVerifier:
        """How this integration's callbacks are verified; by default Knora's X-Knora-Signature or
        Standard Webhooks, under the integration's signing secrets."""
        from webhooks.signing import KnoraSignatures  # the hub's own schemes, beside their signing helpers

        return KnoraSignatures()

    @abstractmethod
    def callback_items(
        self, payload: dict[str, Any], *, raw_body: bytes, signed_id: str | None
    ) -> Iterable[Record | CallbackLogLine | CallbackEntryRefused]:
        """What a verified payload makes: nothing when it carries nothing to keep."""


CAPABILITIES: tuple[type, ...] = (
    Probe, Preview, PullSource, SlicedPull, PushDestination, OAuthPopup, Actions, SignedCallbacks,
)  # fmt: skip


def _class_of(connector: type[Connector] | Connector) -> type:
    return connector if isinstance(connector, type) else type(connector)


def auth_flow_of(connector: type[Connector] | Connector) -> AuthFlow:
    return "oauth_popup" if issubclass(_class_of(connector), OAuthPopup) else "api_key"


def provider_of(connector: type[Connector] | Connector) -> str | None:
    cls = _class_of(connector)
    return cls.provider if issubclass(cls, OAuthPopup) else None


def direction_of(connector: type[Connector] | Connector) -> Direction | None:
    """Source when it pulls or its callbacks make records, destination when it pushes; None when neither."""
    cls = _class_of(connector)
    source = issubclass(cls, PullSource) or (issubclass(cls, SignedCallbacks) and cls.callbacks_make_records)
    destination = issubclass(cls, PushDestination)
    if source and destination:
        return "both"
    return "source" if source else "destination" if destination else None


RunDirection = Literal["pull", "push"]


def run_directions(connector: type[Connector] | Connector) -> tuple[RunDirection, ...]:
    """The directions a run goes through: those the connector implements, in its declared `run_order`."""
    cls = _class_of(connector)
    implemented = {"pull": issubclass(cls, PullSource), "push": issubclass(cls, PushDestination)}
    return tuple(direction for direction in cls.run_order if implemented[direction])


def connector_listing(connector_cls: type[Connector]) -> dict[str, Any]:
    """A connector as `GET /connectors` shows it: its declared info plus what is derived."""
    info = connector_cls.info
    return {
        "type": info.type,
        "display_name": info.display_name,
        "description": info.description,
        "icon": info.icon,
        "data_description": info.data_description,
        "auth_type": info.auth_type,
        "auth_flow": auth_flow_of(connector_cls),
        "provider": provider_of(connector_cls),
        "config_schema": [dataclasses.asdict(field) for field in info.config_schema],
        "direction": direction_of(connector_cls),
    }
