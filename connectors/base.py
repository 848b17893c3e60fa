"""The connector interface: metadata, config validation, and what connectors yield and receive.

The capabilities a connector subclasses (pull, push, probe, ...) are in `connectors/capabilities.py`.

A connector is a pure adapter: no ORM, no request, no Celery. It receives a validated config
and credentials; the services in `integrations/` persist what it yields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, ClassVar, Literal

FieldType = Literal["text", "password", "select", "boolean", "number"]
# A check of one config value beyond its type: the cleaned value, and an error (None when it is fine).
FieldCheck = Callable[[Any], tuple[Any, "str | None"]]
ActionFieldType = Literal["text", "number", "select", "multiselect"]
ActionKind = Literal["read", "write"]


@dataclass(frozen=True)
class ConfigField:
    key: str
    label: str
    type: FieldType = "text"
    required: bool = False
    placeholder: str = ""
    help_text: str = ""
    default: Any = None
    # Each option: {"value": ..., "label": ...}; only for `select`.
    options: tuple[dict[str, Any], ...] = ()
    # The field names where or as whom the connector connects (a URL, a host, a client id, an email):
    # when a PATCH changes it, the stored password fields are not kept, they must be sent again.
    binds_secrets: bool = False


@dataclass(frozen=True)
class ConnectorInfo:
    """What a connector declares of what `GET /connectors` shows; `auth_flow`, `provider` and the
    direction are derived from its capabilities (`connectors.capabilities.connector_listing`)."""

    type: str
    display_name: str
    description: str
    icon: str
    data_description: str
    auth_type: str
    config_schema: tuple[ConfigField, ...]


class ConfigInvalid(Exception):
    """Field errors of a config: {key: [message, ...]}."""

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid connector config.")
        self.field_errors = field_errors


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    message: str


@dataclass(frozen=True)
class PreviewItem:
    label: str
    count: int | None


@dataclass(frozen=True)
class PreviewResult:
    summary: str
    items: list[PreviewItem]
    estimated_entries: int | None


@dataclass(frozen=True)
class RecordFile:
    """A file an upstream object carries. `version` names this version of it (the hub downloads a
    version once); `size` is what the upstream says (None when it does not); `fetch()` streams the
    bytes in chunks, and whoever calls it stops reading at its own cap."""

    name: str
    content_type: str
    version: str
    size: int | None
    fetch: Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Record:
    """One upstream object as a knowledge entry would hold it."""

    external_id: str
    title: str
    content: str
    html: str | None = None
    url: str = ""
    author: str = ""
    language: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source_created_at: datetime | None = None
    source_updated_at: datetime | None = None
    # The object's files, stored with its entry after the entry is written (integrations.knowledge.files).
    files: tuple[RecordFile, ...] = ()


@dataclass(frozen=True)
class Deletion:
    """An upstream object that no longer exists: its entry becomes a tombstone."""

    external_id: str
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class RecordFailure:
    """One upstream object that could not be turned into a record; the sync goes on."""

    external_id: str
    reason: str


@dataclass(frozen=True)
class Skipped:
    """An upstream object fetched but deliberately not imported (a draft, a private item): counted in
    `records_skipped`; `reason` is aggregated in the job's log."""

    external_id: str
    reason: str


@dataclass(frozen=True)
class Checkpoint:
    """Where the next pull may resume; persisted by the sync service when yielded.

    From a slice of a SlicedPull, `state` is that slice's own part (see connectors.capabilities)."""

    state: dict[str, Any]


@dataclass(frozen=True)
class Found:
    """The connector's best estimate of how many records this pull will yield."""

    total: int


@dataclass(frozen=True)
class Warning:
    """An upstream warning worth showing in the job's log."""

    message: str


PullItem = Record | Deletion | RecordFailure | Skipped | Checkpoint | Found | Warning


@dataclass(frozen=True)
class FileSnapshot:
    """A file an entry carries, as a destination receives it: `open()` gives its stored bytes."""

    name: str
    content_type: str
    size: int
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class EntrySnapshot:
    """What a destination receives of a knowledge entry: its content as stored, where it came from,
    and what the destination said of it last time (`remote_id`, None until it accepted it once)."""

    id: str
    integration_id: str
    external_id: str
    title: str
    content: str
    html: str | None
    url: str
    author: str
    language: str
    metadata: dict[str, Any]
    updated_at: datetime
    content_hash: str
    deleted: bool
    remote_id: str | None = None
    files: tuple[FileSnapshot, ...] = ()
    # The source integration's name and connector type, for destinations that show where it came from.
    source_name: str = ""
    source_type: str = ""


@dataclass(frozen=True)
class PushAccepted:
    """The destination took the entry (for a tombstone: removed or archived it, as the connector decides)."""

    entry_id: str
    remote_id: str
    # Did the destination create a new object (rather than update one it had)?
    created: bool = False


@dataclass(frozen=True)
class PushFailed:
    """The destination refused the entry, or it could not be sent; it stays due for the next run."""

    entry_id: str
    reason: str


@dataclass(frozen=True)
class PushSkipped:
    """The destination leaves the entry out on purpose (nothing it can publish, e.g. no title and no
    text): counted as skipped, and not offered again until it changes."""

    entry_id: str
    reason: str


PushItem = PushAccepted | PushFailed | PushSkipped | Warning


@dataclass(frozen=True)
class OAuthGrant:
    """The result of a code exchange: credentials to store sealed and the account they belong to."""

    credentials: dict[str, Any]
    account: str


class Connector:
    """Base of every connector. Subclasses set `info` and subclass the capabilities they have."""

    info: ClassVar[ConnectorInfo]
    # When set, `POST /` checks the new integration's credentials live (the connector's probe)
    # before creating it, and refuses credentials the upstream rejects.
    probe_on_create: ClassVar[bool] = False
    # A connector that both pulls and pushes runs its directions in this order (see
    # connectors.capabilities.run_directions); each keeps its own checkpoint.
    run_order: ClassVar[tuple[Literal["pull", "push"], ...]] = ("pull", "push")

    def __init__(
        self,
        *,
        config: dict[str, Any],
        credentials: dict[str, Any] | None = None,
        save_credentials: Callable[[dict[str, Any]], None] | None = None,
        load_credentials: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials or {}
        # Called when the connector obtains new credentials (e.g. a rotated refresh token).
        self._save_credentials = save_credentials
        # Reads what is stored now: another process may have rotated the tokens since this one started.
        self._load_credentials = load_credentials

    def stored_credentials(self) -> dict[str, Any]:
        """The credentials as stored now (or as given, when nothing is stored)."""
        return self._load_credentials() if self._load_credentials is not None else self.credentials

    def credentials_changed(self, credentials: dict[str, Any]) -> None:
        self.credentials = credentials
        if self._save_credentials is not None:
            self._save_credentials(credentials)

    @classmethod
    def config_checks(cls) -> dict[str, FieldCheck]:
        """Checks of single fields beyond their schema type (a URL, a range, a name), by key: each gives
        the cleaned value and an error (None when it is fine)."""
        return {}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Checks `config` against the schema, then `config_checks`; returns it with defaults filled in.
        One ConfigInvalid names every bad field."""
        from connectors.config import validate_against_schema

        checks = cls.config_checks()
        try:
            cleaned = validate_against_schema(cls.info.config_schema, config)
            errors: dict[str, list[str]] = {}
        except ConfigInvalid as exc:
            if not checks:
                raise
            # Check the other fields too, so one answer names every bad field.
            errors = dict(exc.field_errors)
            cleaned = {k: v for k, v in config.items() if k not in errors} if isinstance(config, dict) else {}
        for key, check in checks.items():
            if key in errors or cleaned.get(key) in (None, ""):
                continue
            value, error = check(cleaned[key])
            if error:
                errors[key] = [error]
            else:
                cleaned[key] = value
        if errors:
            raise ConfigInvalid(errors)
        return cleaned


@dataclass(frozen=True)
class ActionField:
    """One input field of an action; `key` is a dotted path into the input JSON (`body.storage.value`)."""

    key: str
    label: str
    description: str = ""
    type: ActionFieldType = "text"
    required: bool = False
    default: Any = None
    # Each option: {"value": ..., "label": ...}. Strict for select and multiselect (a comma-separated
    # list of option values); for text and number they are the usual choices, shown to the user.
    options: tuple[dict[str, Any], ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class ActionSpec:
    """An operation a person or an assistant can run on the upstream; `write` ones change it."""

    name: str
    label: str
    description: str
    kind: ActionKind
    fields: tuple[ActionField, ...] = ()


class ActionInputInvalid(Exception):
    """Field errors of an action's input: {dotted key: [message, ...]}."""

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid action input.")
        self.field_errors = field_errors
