"""The `leanix` connector: fact sheets pulled in through outbound runs, entries pushed out through inbound runs.

`direction` chooses which of the two a run does: `from_leanix` pulls only, `to_leanix` pushes only,
`both` pulls and then pushes (the engine runs the directions in `run_order`, each with its checkpoint).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from connectors.base import (
    Checkpoint,
    ConfigField,
    Connector,
    ConnectorInfo,
    Deletion,
    EntrySnapshot,
    FieldCheck,
    PreviewResult,
    ProbeResult,
    PullItem,
    PushAccepted,
    PushFailed,
    PushItem,
    Warning,
)
from connectors.capabilities import SOURCES_FIELD, Preview, Probe, PullSource, PushDestination
from connectors.errors import CredentialInvalid, UpstreamError
from connectors.http import run_cancelled
from connectors.leanix import settings
from connectors.leanix.client import CachedToken, LeanIXClient, results_items
from connectors.leanix.hosts import clean_host
from connectors.leanix.ldif import LX_VERSION, Binding, content_item, ldif_bytes, record_from_item
from connectors.leanix.processors import configuration_digest, configuration_for, default_binding
from connectors.leanix.runs import LeanIXRunFailed, results_when_ready, run_to_the_end, warning_text

DIRECTIONS = ("to_leanix", "from_leanix", "both")
DEFAULT_RUN_SIZE = 5000
MAX_RUN_SIZE = 50_000
CONTENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
BINDING_CHARS = 500
INBOUND, OUTBOUND = default_binding("inbound"), default_binding("outbound")


def _binding_fields(prefix: str, label: str, binding: Binding) -> tuple[ConfigField, ...]:
    return tuple(
        ConfigField(
            key=f"{prefix}connector_{part}",
            label=f"{label} connector {part}",
            default=getattr(binding, f"connector_{part}"),
            help_text=f"Selects the {label.lower()} processor in LeanIX; the default matches the shipped one.",
        )
        for part in ("type", "id", "version")
    )


class LeanIXConnector(Connector, Probe, Preview, PullSource, PushDestination):
    info = ConnectorInfo(
        type="leanix",
        display_name="SAP LeanIX",
        description="Bring LeanIX fact sheets into the knowledge base, and send knowledge entries to LeanIX.",
        icon="leanix",
        data_description="Fact sheets (applications, projects, capabilities, ...) and knowledge entries",
        auth_type="api_key",
        config_schema=(
            ConfigField(
                key="host", label="LeanIX host", required=True, placeholder="acme.leanix.net", binds_secrets=True,
                help_text="Your workspace's domain (https:// is implied), e.g. acme.leanix.net or eu-svc.leanix.net.",
            ),
            ConfigField(
                key="api_token", label="API token", type="password", required=True,
                help_text="A technical user's API token (Administration > Technical Users).",
            ),
            ConfigField(
                key="direction", label="Direction", type="select", required=True,
                options=(
                    {"value": "to_leanix", "label": "Send knowledge entries to LeanIX"},
                    {"value": "from_leanix", "label": "Bring LeanIX fact sheets in"},
                    {"value": "both", "label": "Both ways"},
                ),
            ),
            *_binding_fields("", "Inbound", INBOUND),
            *_binding_fields("outbound_", "Outbound", OUTBOUND),
            ConfigField(
                key="manage_processors", label="Manage processors", type="boolean", default=False,
                help_text="Write the shipped processor configurations to LeanIX before the first run.",
            ),
            ConfigField(key="lx_version", label="LDIF lxVersion", default=LX_VERSION),
            ConfigField(
                key="content_type", label="Content type", default="knowledgeEntry",
                help_text="The LDIF content type of entries sent to LeanIX (the inbound processor filters on it).",
            ),
            SOURCES_FIELD,
            ConfigField(
                key="run_size", label="Run size", type="number", default=DEFAULT_RUN_SIZE,
                help_text=f"Content items per LeanIX run, 1 to {MAX_RUN_SIZE}.",
            ),
        ),
    )  # fmt: skip
    probe_on_create = True

    _http: LeanIXClient | None = None
    # LeanIX's words about the first run of this job that failed; later batches are then not sent.
    _run_failed: str | None = None

    @classmethod
    def config_checks(cls) -> dict[str, FieldCheck]:
        return _CHECKS

    # --- what the config turns on ----------------------------------------------------------------

    @property
    def direction(self) -> str:
        return str(self.config.get("direction") or "from_leanix")

    def push_enabled(self) -> bool:
        return self.direction in ("to_leanix", "both")

    def pull_enabled(self) -> bool:
        return self.direction in ("from_leanix", "both")

    def _binding(self, prefix: str, default: Binding) -> Binding:
        return Binding(
            str(self.config.get(f"{prefix}connector_type") or default.connector_type),
            str(self.config.get(f"{prefix}connector_id") or default.connector_id),
            str(self.config.get(f"{prefix}connector_version") or default.connector_version),
        )

    def _cancelled(self) -> bool:
        """The cancel hook polled while LeanIX works: True stops the run upstream and ends the job (the
        engine answers it: the job was cancelled, or its integration deleted)."""
        return run_cancelled()

    # --- client and stored state -----------------------------------------------------------------

    def _client(self) -> LeanIXClient:
        stored = self.stored_credentials().get("token") or {}
        token = None
        if stored.get("host") == self.config["host"] and stored.get("access_token"):
            token = CachedToken(str(stored["access_token"]), float(stored.get("refresh_at") or 0))
        return LeanIXClient(
            base_url=self.config["host"],
            api_token=self.config["api_token"],
            token=token,
            on_new_token=self._token_store,
            read_timeout=float(settings.READ_TIMEOUT_SECONDS.get()),
            max_attempts=int(settings.MAX_ATTEMPTS.get()),
        )

    def _state_store(self, key: str, value: dict[str, Any]) -> None:
        self.credentials_changed({**self.stored_credentials(), key: value})

    def _token_store(self, token: CachedToken) -> None:
        # Kept sealed with the integration, so the next job reuses it until shortly before it expires.
        host = self.config["host"]
        self._state_store("token", {"host": host, "access_token": token.access_token, "refresh_at": token.refresh_at})

    def _processors_ensure(self, client: LeanIXClient, direction: str) -> Iterator[Warning]:
        """With `manage_processors` on: `PUT /configurations` when what is in LeanIX is not the shipped file."""
        if not self.config.get("manage_processors"):
            return
        binding = self._binding("", INBOUND) if direction == "inbound" else self._binding("outbound_", OUTBOUND)
        configuration = configuration_for(direction, binding)
        digest = configuration_digest(configuration)
        written = dict(self.stored_credentials().get("processors") or {})
        key = f"{direction}@{self.config['host']}"
        if written.get(key) == digest:
            return
        client.configuration_put(configuration)
        self._state_store("processors", {**written, key: digest})
        yield Warning(
            f"Wrote the {direction} processor configuration ({binding.connector_type}/{binding.connector_id}/"
            f"{binding.connector_version}) to LeanIX, as the shipped file has it."
        )

    # --- probe and preview -----------------------------------------------------------------------

    def probe(self) -> ProbeResult:
        """A token request."""
        with self._client() as client:
            try:
                client.token()
            except CredentialInvalid:
                return ProbeResult(False, "LeanIX refused the API token (401 Unauthorized).")
            except UpstreamError as exc:
                return ProbeResult(False, f"LeanIX's token request failed: {exc.message}")
        return ProbeResult(True, "LeanIX API token verified: a token was issued.")

    def preview(self) -> PreviewResult | None:
        if self.direction == "to_leanix":
            return None  # the hub counts what is due, per source, from its push ledger
        return PreviewResult(
            summary="LeanIX tells which fact sheets its outbound processor exports only in a run: "
            "a sync is needed to know how many.",
            items=[],
            estimated_entries=None,
        )

    # --- pull: one outbound run ------------------------------------------------------------------

    def pull(self, checkpoint: dict[str, Any]) -> Iterator[PullItem]:
        """One outbound run; each results item one record; ids seen last time and not now, tombstones."""
        if not self.pull_enabled():
            return
        binding = self._binding("outbound_", OUTBOUND)
        header = binding.header(
            direction="outbound", lx_version=self.config.get("lx_version") or LX_VERSION,
            description="Tributary: fact sheets for the knowledge base",
        )  # fmt: skip
        with self._client() as client:
            yield from self._processors_ensure(client, "outbound")
            outcome = run_to_the_end(client, ldif_bytes(header, []), what="outbound", cancelled=self._cancelled)
            for warning in outcome.warnings:
                yield Warning(f"LeanIX run {outcome.run_id}: {warning_text(warning)}")
            results = results_when_ready(client, outcome.run_id, cancelled=self._cancelled)
        previous = set(checkpoint.get("ids") or [])
        seen: set[str] = set()
        site = self.config["host"].rstrip("/")
        for workspace, item in results_items(results):
            record = record_from_item(item, site=site, workspace=workspace)
            if record is not None:
                seen.add(record.external_id)
                yield record
        del results
        for gone in sorted(previous - seen):
            yield Deletion(external_id=gone)
        yield Checkpoint({"ids": sorted(seen), "run_id": outcome.run_id})

    # --- push: one inbound run per batch ---------------------------------------------------------

    def push_batch_size(self) -> int:
        return int(self.config.get("run_size") or DEFAULT_RUN_SIZE)

    def push_failures_fail_the_run(self) -> bool:
        """A run LeanIX reported FAILED (or that was stopped) fails the job; warnings alone never do."""
        return self._run_failed is not None

    def push_batch(self, entries: Sequence[EntrySnapshot]) -> Iterable[PushItem]:
        """One inbound run of the batch; an entry is accepted once its run FINISHED without a warning naming it.

        Once a run of this job failed (or was stopped at the timeout), the batches after it are not sent:
        the job fails anyway, and each would wait for LeanIX again."""
        if self._run_failed is not None:
            reason = f"Not sent: an earlier run of this job failed ({self._run_failed})"[:2000]
            yield from (PushFailed(entry_id=entry.id, reason=reason) for entry in entries)
            return
        if self._http is None:
            self._http = self._client()
        client = self._http
        yield from self._processors_ensure(client, "inbound")
        content_type = self.config.get("content_type") or "knowledgeEntry"
        header = self._binding("", INBOUND).header(
            direction="inbound", lx_version=self.config.get("lx_version") or LX_VERSION,
            description=f"Tributary: {len(entries)} knowledge entries",
        )  # fmt: skip
        ldif = ldif_bytes(header, (content_item(entry, content_type=content_type) for entry in entries))
        try:
            outcome = run_to_the_end(client, ldif, what="inbound", cancelled=self._cancelled)
        except LeanIXRunFailed as exc:
            self._run_failed = exc.message
            yield from (PushFailed(entry_id=entry.id, reason=exc.message) for entry in entries)
            return
        named: dict[str, list[str]] = defaultdict(list)
        for warning in outcome.warnings:
            yield Warning(f"LeanIX run {outcome.run_id}: {warning_text(warning)}")
            if warning.get("content"):
                named[str(warning["content"])].append(warning_text(warning))
        for entry in entries:
            if entry.id in named:
                yield PushFailed(entry_id=entry.id, reason=f"LeanIX warned: {'; '.join(named[entry.id])}"[:2000])
            else:
                created = entry.remote_id is None and not entry.deleted
                yield PushAccepted(entry_id=entry.id, remote_id=f"{content_type}:{entry.id}", created=created)

    def push_finish(self, *, accepted: int) -> Iterable[Warning]:
        if self._http is not None:
            self._http.close()
            self._http = None
        return ()


def _clean_direction(value: Any) -> tuple[Any, str | None]:
    return value, None if value in DIRECTIONS else f"Must be one of: {list(DIRECTIONS)}."


def _clean_run_size(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, float) and not value.is_integer():
        return value, "Must be a whole number."
    if not 1 <= value <= MAX_RUN_SIZE:
        return value, f"Must be between 1 and {MAX_RUN_SIZE}."
    return int(value), None


def _clean_content_type(value: str) -> tuple[str, str | None]:
    if not CONTENT_TYPE.match(value):
        return value, "Must start with a letter and hold only letters, digits, '_', '-' or '.' (at most 100)."
    return value, None


def _clean_binding(value: str) -> tuple[str, str | None]:
    return (value, None) if len(value) <= BINDING_CHARS else (value, f"Must be at most {BINDING_CHARS} characters.")


_CHECKS = {
    "host": clean_host,
    "direction": _clean_direction,
    "run_size": _clean_run_size,
    "content_type": _clean_content_type,
    "lx_version": _clean_binding,
    **{
        f"{prefix}connector_{part}": _clean_binding
        for prefix in ("", "outbound_")
        for part in ("type", "id", "version")
    },
}
