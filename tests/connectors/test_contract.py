"""The contract every connector keeps, test-only ones included, and proof that each check can fail.

For each connector: its entry in the real `GET /connectors` answer has Knora's exact shape, its
config schema uses only Knora's field types, its defaults validate, and every capability it claims
is implemented (no abstract method left; what the listing says matches what `isinstance` says).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import NoneType
from typing import Any, ClassVar

import pytest

from connectors import registry
from connectors.base import ActionSpec, ConfigField, ConfigInvalid, Connector, ConnectorInfo, PullItem
from connectors.capabilities import (
    CAPABILITIES,
    Actions,
    OAuthPopup,
    PullSource,
    PushDestination,
    SignedCallbacks,
    auth_flow_of,
    direction_of,
    provider_of,
)
from connectors.config import validate_against_schema

pytestmark = pytest.mark.django_db
CONNECTORS_URL = "/api/v1/integrations/connectors"
# Test-only connectors registered by their own tests (or the console's hub process), not by settings.
TEST_ONLY = (
    "tests.console.fake_oauth:FakeDriveConnector",
    "tests.integrations.test_capabilities:Relay",
    "tests.integrations.test_oauth:FakeOAuthConnector",
    "tests.integrations.test_sync_service:ScriptedSource",
    "tests.fakes.status_callbacks:StatusDeskConnector",
    "tests.fakes.status_callbacks:OpenStatusConnector",
)
KNORA_FIELD_TYPES = {"text", "password", "select", "boolean", "number"}
LISTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "type": str, "display_name": str, "description": str, "icon": str, "data_description": str,
    "auth_type": str, "auth_flow": str, "provider": (str, NoneType), "config_schema": list, "direction": str,
}  # fmt: skip
CONFIG_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "key": str, "label": str, "type": str, "required": bool, "placeholder": str, "help_text": str,
    "default": (str, int, float, bool, NoneType), "options": list,
}  # fmt: skip


def contract_connectors() -> list[type[Connector]]:
    return registry.all_connectors() + [
        cls for cls in map(registry.import_connector, TEST_ONLY) if cls not in registry.all_connectors()
    ]


# --- the checks: each returns what is wrong, so the broken connectors below can show it fails ------


def listing_problems(entry: dict[str, Any]) -> list[str]:
    """Knora's exact shape of one `GET /connectors` entry: field set and types."""
    problems = []
    if set(entry) != set(LISTING_TYPES):
        problems.append(f"fields {sorted(entry)} are not Knora's {sorted(LISTING_TYPES)}")
    problems += [
        f"{key} is {type(entry[key]).__name__}" for key, kind in LISTING_TYPES.items()
        if key in entry and not isinstance(entry[key], kind)
    ]  # fmt: skip
    if entry.get("auth_flow") not in ("api_key", "oauth_popup"):
        problems.append(f"auth_flow {entry.get('auth_flow')!r}")
    if (entry.get("auth_flow") == "oauth_popup") != bool(entry.get("provider")):
        problems.append("a provider is named exactly when auth_flow is oauth_popup")
    if entry.get("direction") not in ("source", "destination", "both"):
        problems.append(f"direction {entry.get('direction')!r}")
    for field in entry.get("config_schema") or []:
        if set(field) != set(CONFIG_FIELD_TYPES):
            problems.append(f"config field {field.get('key')!r} has fields {sorted(field)}")
        problems += [
            f"config field {field.get('key')!r}: {key} is {type(field[key]).__name__}"
            for key, kind in CONFIG_FIELD_TYPES.items() if key in field and not isinstance(field[key], kind)
        ]  # fmt: skip
        problems += [
            f"config field {field.get('key')!r}: option {option!r}" for option in field.get("options") or []
            if not isinstance(option, dict) or set(option) != {"value", "label"}
        ]  # fmt: skip
    return problems


def schema_problems(connector_cls: type[Connector]) -> list[str]:
    schema = connector_cls.info.config_schema
    problems = [f"{f.key}: type {f.type!r} is not one of Knora's" for f in schema if f.type not in KNORA_FIELD_TYPES]
    keys = [f.key for f in schema]
    if len(keys) != len(set(keys)):
        problems.append(f"duplicate keys in {keys}")
    problems += [f"{f.key}: a select needs options" for f in schema if f.type == "select" and not f.options]
    problems += [f"{f.key}: only a select has options" for f in schema if f.type != "select" and f.options]
    return problems


def defaults_problems(connector_cls: type[Connector]) -> list[str]:
    """Each default is a valid value of its field, and the defaults together pass the connector's own
    validation (only required fields without a default may then be missing)."""
    schema = connector_cls.info.config_schema
    problems = []
    for field in schema:
        if field.default is None:
            continue
        try:
            validate_against_schema((field,), {field.key: field.default})
        except ConfigInvalid as exc:
            problems.append(f"{field.key}: default {field.default!r}: {exc.field_errors[field.key]}")
    may_be_missing = {f.key for f in schema if f.required and f.default is None}
    try:
        connector_cls.validate_config({f.key: f.default for f in schema if f.default is not None})
    except ConfigInvalid as exc:
        problems += [f"{key}: {messages}" for key, messages in exc.field_errors.items() if key not in may_be_missing]
    return problems


def capability_problems(connector_cls: type[Connector], entry: dict[str, Any]) -> list[str]:
    problems = []
    if left := sorted(getattr(connector_cls, "__abstractmethods__", ())):
        problems.append(f"claims a capability but leaves {left} unimplemented")
    claimed = [cap for cap in CAPABILITIES if issubclass(connector_cls, cap)]
    if not left:
        instance = connector_cls(config={}, credentials={})
        problems += [f"an instance is not a {cap.__name__}" for cap in claimed if not isinstance(instance, cap)]
    for cap in set(CAPABILITIES) - set(claimed):
        methods = sorted(getattr(cap, "__abstractmethods__", ()))
        if methods and all(callable(getattr(connector_cls, name, None)) for name in methods):
            problems.append(f"has {methods} but does not subclass {cap.__name__}: the engine would never call it")
    if direction_of(connector_cls) is None:
        problems.append("neither a source (PullSource, SignedCallbacks) nor a destination (PushDestination)")
    derived = {"auth_flow": auth_flow_of(connector_cls), "provider": provider_of(connector_cls)}
    derived["direction"] = direction_of(connector_cls)
    problems += [f"lists {key} {entry.get(key)!r}, implements {value!r}" for key, value in derived.items()
                 if entry.get(key) != value]  # fmt: skip
    if issubclass(connector_cls, OAuthPopup) and not (
        isinstance(connector_cls.provider, str) and connector_cls.provider
    ):
        problems.append("an OAuthPopup names its provider")
    if issubclass(connector_cls, Actions):
        names = [spec.name for spec in connector_cls.actions]
        if not names or len(names) != len(set(names)):
            problems.append(f"Actions declares {names}: at least one, each name once")
    return problems


# --- every connector --------------------------------------------------------------------------


@pytest.fixture
def listed(admin_client) -> Iterator[Any]:
    """The connector's entry in the real GET /connectors answer (registered for the request if need be)."""
    added: list[str] = []

    def entry_of(connector_cls: type[Connector]) -> dict[str, Any]:
        if registry.connector_class(connector_cls.info.type) is not connector_cls:
            registry.register(connector_cls)
            added.append(connector_cls.info.type)
        response = admin_client.get(CONNECTORS_URL)
        assert response.status_code == 200
        return next(c for c in response.json()["connectors"] if c["type"] == connector_cls.info.type)

    yield entry_of
    for connector_type in added:
        registry.unregister(connector_type)


def by_type(classes: Iterable[type[Connector]]) -> list[Any]:
    return [pytest.param(cls, id=cls.info.type) for cls in classes]


@pytest.mark.parametrize("connector_cls", by_type(contract_connectors()))
def test_connector_keeps_the_contract(connector_cls, listed):
    entry = listed(connector_cls)
    assert listing_problems(entry) == []
    assert schema_problems(connector_cls) == []
    assert defaults_problems(connector_cls) == []
    assert capability_problems(connector_cls, entry) == []


def test_the_contract_covers_every_connector_class_the_tests_define():
    """A new test-only connector is held to the contract too: add it to TEST_ONLY."""
    tests = Path(__file__).resolve().parents[1]
    defined = set()
    for path in tests.rglob("*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue  # the broken connectors below are meant to break it
        module = ".".join(path.relative_to(tests.parent).with_suffix("").parts)
        for name in re.findall(r"^class (\w+)\([^)]*\bConnector\b", path.read_text(), re.M):
            defined.add(f"{module}:{name}")
    covered = {f"{cls.__module__}:{cls.__name__}" for cls in contract_connectors()}
    assert defined and defined <= covered, defined - covered


def test_each_registry_line_names_a_class_of_that_type():
    for connector_type, path in registry.CONNECTORS.items():
        assert re.fullmatch(r"connectors\.\w+:\w+", path), path
        assert registry.import_connector(path).info.type == connector_type


def test_the_connector_list_is_todays_byte_for_byte(admin_client):
    """Knora's answer did not change when auth_flow, provider and direction became derived."""
    expected = (Path(__file__).parents[1] / "fixtures" / "connectors" / "list__today.json").read_bytes()
    answer = admin_client.get(CONNECTORS_URL).content
    # Connectors registered since (connectors/leanix, connectors/leena) sit before the test-only ones and are
    # left out here.
    added_at = answer.index(b',{"type":"leanix",')
    assert answer.index(b',{"type":"leena",') > added_at
    answer = answer[:added_at] + answer[answer.index(b',{"type":"notes",') :]
    # The test-only destinations registered since (tests/fakes/shelf.py) follow the captured four.
    captured = expected[: expected.rindex(b"]")]
    assert answer.startswith(captured + b',{"type":"shelf",') and answer.endswith(b'],"total":8}')


# --- broken connectors: each check catches its fault --------------------------------------------


def info(type: str, *fields: ConfigField, icon: Any = "x") -> ConnectorInfo:
    return ConnectorInfo(
        type=type, display_name=type, description="", icon=icon, data_description="", auth_type="api_key",
        config_schema=fields,
    )  # fmt: skip


class NothingPulled(PullSource):
    def pull(self, checkpoint: dict[str, Any]) -> Iterator[PullItem]:
        yield from ()


class BrokenIcon(Connector, NothingPulled):
    info = info("broken-icon", icon=None)


class BrokenFieldType(Connector, NothingPulled):
    info = info("broken-type", ConfigField(key="since", label="Since", type="date"))  # type: ignore[arg-type]


class BrokenSelect(Connector, NothingPulled):
    info = info("broken-select", ConfigField(key="region", label="Region", type="select"))


class BrokenDefault(Connector, NothingPulled):
    info = info(
        "broken-default",
        ConfigField(key="region", label="Region", type="select", default="mars",
                    options=({"value": "eu", "label": "EU"},)),
        ConfigField(key="limit", label="Limit", type="number", default="ten"),
    )  # fmt: skip


class BrokenOwnValidation(Connector, NothingPulled):
    info = info("broken-own", ConfigField(key="page_size", label="Page size", type="number", default=0))

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_config(config)
        if cleaned.get("page_size", 1) < 1:
            raise ConfigInvalid({"page_size": ["Must be 1 or more."]})
        return cleaned


class UnimplementedPull(Connector, PullSource):
    info = info("broken-pull")


class UndeclaredPush(Connector, NothingPulled):
    info = info("broken-push")

    def push_batch(self, entries):
        return None


class NoDirection(Connector):
    info = info("broken-direction")


class NamelessOAuth(Connector, NothingPulled, OAuthPopup):
    info = info("broken-oauth")
    provider: ClassVar[str] = ""

    @classmethod
    def oauth_configured(cls) -> bool:
        return True

    def authorization_url(self, *, state, redirect_uri, code_challenge):
        return ""

    def exchange_code(self, *, code, redirect_uri, code_verifier):
        raise NotImplementedError

    def refresh_credentials(self):
        return {}


class NoActions(Connector, NothingPulled, Actions):
    info = info("broken-actions")

    def run_action(self, name, input):
        return {}


def test_the_listing_check_catches_a_wrong_type_a_missing_and_an_unknown_field(listed):
    entry = listed(BrokenIcon)
    assert listing_problems(entry) == ["icon is NoneType"]
    good = listed(registry.connector_class("haiilo"))
    assert listing_problems({k: v for k, v in good.items() if k != "direction"})[0].startswith("fields")
    assert listing_problems({**good, "capabilities": []})[0].startswith("fields")
    field = good["config_schema"][0]
    assert listing_problems({**good, "config_schema": [{**field, "binds_secrets": True}]})
    assert listing_problems({**good, "config_schema": [{**field, "options": [{"value": 1}]}]})
    assert listing_problems({**good, "auth_flow": "saml"}) and listing_problems({**good, "direction": "sideways"})
    assert listing_problems({**good, "provider": "atlassian"})  # a provider without the popup


def test_the_schema_check_catches_a_field_type_knora_does_not_have_and_a_select_without_options():
    assert schema_problems(BrokenFieldType) == ["since: type 'date' is not one of Knora's"]
    assert schema_problems(BrokenSelect) == ["region: a select needs options"]


def test_the_defaults_check_catches_defaults_that_do_not_validate():
    problems = defaults_problems(BrokenDefault)
    assert [p.split(":")[0] for p in problems] == ["region", "limit", "region", "limit"]
    assert defaults_problems(BrokenOwnValidation) == ["page_size: ['Must be 1 or more.']"]


def test_the_capability_check_catches_claims_not_kept(listed):
    assert capability_problems(UnimplementedPull, listed(UnimplementedPull)) == [
        "claims a capability but leaves ['pull'] unimplemented"
    ]
    assert "does not subclass PushDestination" in capability_problems(UndeclaredPush, listed(UndeclaredPush))[0]
    no_direction = capability_problems(NoDirection, listed(NoDirection))
    assert no_direction[0].startswith("neither a source") and "lists direction None" not in no_direction
    assert capability_problems(NamelessOAuth, {"auth_flow": "oauth_popup", "provider": "", "direction": "source"}) == [
        "an OAuthPopup names its provider"
    ]
    assert capability_problems(NoActions, listed(NoActions)) == ["Actions declares []: at least one, each name once"]
    # What the listing says must be what the class implements.
    haiilo = registry.connector_class("haiilo")
    lying = {**listed(haiilo), "auth_flow": "oauth_popup", "direction": "both"}
    assert capability_problems(haiilo, lying) == [
        "lists auth_flow 'oauth_popup', implements 'api_key'",
        "lists direction 'both', implements 'source'",
    ]


# --- derived, never declared --------------------------------------------------------------------


class TwoWay(Connector, PullSource, PushDestination):
    info = info("two-way")

    def pull(self, checkpoint):
        yield from ()

    def push(self, entries):
        return None


class CallbacksOnly(Connector, SignedCallbacks):
    info = info("callbacks")

    def callback_items(self, payload, *, raw_body, signed_id):
        return ()


class PushOnly(Connector, PushDestination):
    info = info("push-only")

    def push(self, entries):
        return None


@pytest.mark.parametrize(
    ("connector_cls", "direction"),
    [(TwoWay, "both"), (CallbacksOnly, "source"), (PushOnly, "destination"), (NothingPulled, "source")],
)
def test_the_direction_is_what_the_class_implements(connector_cls, direction, listed):
    if issubclass(connector_cls, Connector):
        assert listed(connector_cls)["direction"] == direction
    assert direction_of(connector_cls) == direction


def test_auth_flow_and_provider_follow_the_oauth_popup_capability(listed):
    assert (listed(NamelessOAuth)["auth_flow"], auth_flow_of(TwoWay)) == ("oauth_popup", "api_key")
    confluence = listed(registry.connector_class("confluence"))
    assert (confluence["auth_flow"], confluence["provider"]) == ("oauth_popup", "atlassian")
    assert (
        "auth_flow" not in ConnectorInfo.__dataclass_fields__ and "provider" not in ConnectorInfo.__dataclass_fields__
    )
    assert "direction" not in ConnectorInfo.__dataclass_fields__


def test_actions_are_listed_only_for_a_connector_with_the_capability():
    assert [spec.name for spec in registry.connector_class("confluence").actions][:1]
    assert all(isinstance(spec, ActionSpec) for spec in registry.connector_class("confluence").actions)
    assert not issubclass(registry.connector_class("haiilo"), Actions)
