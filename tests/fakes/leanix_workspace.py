"""The fake LeanIX workspace's model: MTM tokens, fact sheets, processor configurations and runs.

A run moves through its states over time once started (PENDING, IN_PROGRESS, then FINISHED); when it
finishes, an inbound run applies its content through the workspace's inbound configuration of its
binding and an outbound run exports the fact sheets its outbound configuration's scope selects. The
processors understood are the shipped ones' kinds: `inboundFactSheet` (create or update by external
id, `mode: delete` archives), `inboundDocument` (a link on the fact sheet) and `outboundFactSheet`.
Filter expressions are the small set the shipped files use (`${data.deleted == true}` and the like).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

NON_TERMINAL = ("CREATED", "SEQUENTIALIZED", "PENDING", "IN_PROGRESS")
TERMINAL = ("FINISHED", "FAILED", "STOPPED")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


@dataclass
class FactSheet:
    id: str
    type: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None
    status: str = "ACTIVE"
    documents: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Run:
    id: str
    ldif: dict[str, Any]
    status: str = "CREATED"
    description: str = ""
    started_at: float | None = None
    stopped_at: float | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, Any] | None = None
    results_polls: int = 0


@dataclass
class Workspace:
    """Everything the fake holds; the switches are plain attributes a test sets."""

    api_token: str = "leanix-api-token"
    workspace_name: str = "acme"
    token_lifetime: float = 3599.0
    # Seconds a started run spends PENDING, then IN_PROGRESS, before it ends.
    pending_seconds: float = 0.05
    progress_seconds: float = 0.1
    # Switches: the next runs end FAILED with these ERROR warnings (a message per run); runs never end;
    # results answer 204 this many times once a run finished; the next API requests answer these statuses.
    fail_runs: list[str] = field(default_factory=list)
    never_finish: bool = False
    results_not_ready: int = 0
    answer_statuses: list[int] = field(default_factory=list)
    retry_after: str | None = "1"
    # Answer POST /synchronizationRuns as the Swagger has it (a list) rather than as LeanIX does (`{id}`).
    runs_answer_as_list: bool = False
    # Names the inbound processor refuses with a warning naming the content (as the seed's invalid tag).
    invalid_names: set[str] = field(default_factory=set)
    tokens: dict[str, float] = field(default_factory=dict)
    tokens_presented: set[str] = field(default_factory=set)  # the tokens API requests came with
    token_requests: int = 0
    fact_sheets: dict[str, FactSheet] = field(default_factory=dict)
    by_external: dict[str, str] = field(default_factory=dict)  # external id -> fact sheet id
    configurations: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    configuration_puts: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    stops: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- tokens ----------------------------------------------------------------------------------

    def token_issue(self) -> dict[str, Any]:
        with self.lock:
            self.token_requests += 1
            token = secrets.token_urlsafe(24)
            self.tokens[token] = time.time() + self.token_lifetime
            return {"access_token": token, "token_type": "bearer", "expires_in": int(self.token_lifetime)}

    def token_valid(self, token: str) -> bool:
        if token in self.tokens:
            self.tokens_presented.add(token)
        return self.tokens.get(token, 0) > time.time()

    def tokens_expire(self) -> None:
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    # --- fact sheets -----------------------------------------------------------------------------

    def fact_sheet_add(self, type: str, name: str, **fields: Any) -> FactSheet:
        with self.lock:
            sheet = FactSheet(id=str(uuid.uuid4()), type=type, name=name, fields=fields)
            self.fact_sheets[sheet.id] = sheet
            return sheet

    def by_external_id(self, external_id: str) -> FactSheet | None:
        return self.fact_sheets.get(self.by_external.get(external_id, ""))

    def active(self, type: str | None = None) -> list[FactSheet]:
        return [s for s in self.fact_sheets.values() if s.status == "ACTIVE" and (type is None or s.type == type)]

    # --- configurations --------------------------------------------------------------------------

    @staticmethod
    def binding_of(document: dict[str, Any]) -> tuple[str, str, str, str]:
        keys = ("connectorType", "connectorId", "connectorVersion", "processingDirection")
        return tuple(str(document.get(key)) for key in keys)  # type: ignore[return-value]

    def configuration_put(self, configuration: dict[str, Any]) -> None:
        with self.lock:
            self.configuration_puts.append(configuration)
            self.configurations[self.binding_of(configuration)] = configuration

    # --- runs ------------------------------------------------------------------------------------

    def run_create(self, ldif: dict[str, Any]) -> Run:
        with self.lock:
            run = Run(id=str(uuid.uuid4()), ldif=ldif, description=str(ldif.get("description") or ""))
            self.runs[run.id] = run
            return run

    def run_start(self, run: Run) -> bool:
        with self.lock:
            if run.status != "CREATED":
                return False
            run.status, run.started_at = "PENDING", time.monotonic()
            return True

    def run_advance(self, run: Run) -> None:
        """Moves a started run on by the clock; the processing happens when it ends."""
        with self.lock:
            if run.started_at is None or run.status in TERMINAL:
                return
            elapsed = time.monotonic() - run.started_at
            if self.never_finish or elapsed < self.pending_seconds + self.progress_seconds:
                run.status = "PENDING" if elapsed < self.pending_seconds else "IN_PROGRESS"
                return
            if self.fail_runs:
                message = self.fail_runs.pop(0)
                run.status, run.description = "FAILED", "The run failed during processing."
                run.warnings.append(_warning(None, message, status="ERROR", category="processing"))
                return
            configuration = self.configurations.get(self.binding_of(run.ldif))
            if configuration is None:
                run.status, run.description = "FAILED", "No processor configuration matches the LDIF."
                run.warnings.append(
                    _warning(None, "No processor configuration found for " + "/".join(self.binding_of(run.ldif)),
                             status="ERROR", category="configuration")
                )  # fmt: skip
                return
            if run.ldif.get("processingDirection") == "outbound":
                run.results = self._export(run, configuration)
            else:
                self._apply(run, configuration)
            run.status = "FINISHED"

    def run_stop(self, run: Run) -> bool:
        with self.lock:
            self.run_advance(run)
            if run.status not in ("PENDING", "IN_PROGRESS"):
                return False
            run.status, run.stopped_at = "STOPPED", time.monotonic()
            self.stops.append(run.id)
            return True

    # --- the processors --------------------------------------------------------------------------

    def _apply(self, run: Run, configuration: dict[str, Any]) -> None:
        processors = sorted(
            (p for p in configuration.get("processors") or [] if p.get("enabled", True)), key=lambda p: p.get("run", 0)
        )
        for content in run.ldif.get("content") or []:
            context = {"content": {"id": content.get("id"), "type": content.get("type")}, "data": content.get("data")}
            for processor in processors:
                if _matches(processor.get("filter") or {}, content, context):
                    self._apply_one(run, processor, content, context)

    def _apply_one(self, run: Run, processor: dict[str, Any], content: dict[str, Any], context: dict) -> None:
        external_id = _render(processor["identifier"]["external"]["id"]["expr"], context)
        sheet = self.by_external_id(external_id)
        if processor.get("processorType") == "inboundDocument":
            if sheet is not None:
                values = {u["key"]["expr"]: _render(u["values"][0]["expr"], context) for u in processor["updates"]}
                sheet.documents = [values]
            return
        if processor.get("mode") == "delete":
            if sheet is not None:
                sheet.status = "ARCHIVED"
            return
        values = {u["key"]["expr"]: _render(u["values"][0]["expr"], context) for u in processor.get("updates") or []}
        name = str(values.pop("name", "") or "").strip()
        if not name or name in self.invalid_names:
            run.warnings.append(_warning(content.get("id"), f"Invalid name {name!r}: the fact sheet was not written",
                                         processor=processor))  # fmt: skip
            return
        if sheet is None:
            sheet = FactSheet(id=str(uuid.uuid4()), type=processor["type"], name=name, external_id=external_id)
            self.fact_sheets[sheet.id] = sheet
            self.by_external[external_id] = sheet.id
        sheet.name, sheet.status = name, "ACTIVE"
        sheet.fields.update(values)

    def _export(self, run: Run, configuration: dict[str, Any]) -> dict[str, Any]:
        types = {key for facet in configuration["scope"].get("facetFilters") or [] for key in facet.get("keys") or []}
        content = [
            {"type": sheet.type, "id": sheet.id, "data": {"name": sheet.name, **sheet.fields}}
            for sheet in self.fact_sheets.values()
            if sheet.status == "ACTIVE" and sheet.type in types
        ]
        header = {key: run.ldif[key] for key in ("connectorType", "connectorId", "connectorVersion", "lxVersion")}
        return {**header, "lxWorkspace": self.workspace_name, "processingDirection": "outbound",
                "description": run.description, "content": content}  # fmt: skip


def _warning(content_id: str | None, message: str, *, status: str = "WARNING", category: str = "processor",
             processor: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    warning: dict[str, Any] = {"message": message, "detail": "", "category": category, "status": status}
    if processor is not None:
        warning["processor"] = {"name": processor.get("processorName", ""), "index": processor.get("run", 0)}
    if content_id is not None:
        warning["content"] = str(content_id)
    return warning


def _lookup(path: str, context: dict[str, Any]) -> Any:
    value: Any = context
    for part in path.strip().split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _render(template: str, context: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: "" if (v := _lookup(m.group(1), context)) is None else str(v), template)


_CONDITION = re.compile(r"^\s*([\w.]+)\s*(==|!=)\s*(true|false|'')\s*$")


def _matches(filter_config: dict[str, Any], content: dict[str, Any], context: dict[str, Any]) -> bool:
    """The type regex and the `advanced` conditions the shipped files use (`a == true && b != ''`)."""
    if "type" in filter_config and not re.search(filter_config["type"], str(content.get("type"))):
        return False
    advanced = filter_config.get("advanced")
    if not advanced:
        return True
    for condition in advanced.strip().removeprefix("${").removesuffix("}").split("&&"):
        matched = _CONDITION.match(condition)
        if matched is None:
            raise ValueError(f"the fake does not understand the filter {advanced!r}")
        path, operator, literal = matched.groups()
        value = _lookup(path, context)
        expected: Any = {"true": True, "false": False, "''": ""}[literal]
        if literal == "''":
            value = value or ""
        else:
            value = value is True
        if (value == expected) != (operator == "=="):
            return False
    return True
