"""Schemathesis against the live hub (gunicorn, real worker): every operation answers as /api/schema/ says.

Run for every operation in the served schema, as an admin, a member and anonymously, with exactly the
checks not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance, a fixed seed and a bounded number of examples per operation.
What the fuzzer may touch is harmless: its path parameters are drawn mostly from this test's own
objects (a webhook integration, a notes integration on a local fake upstream, one to delete), the
OAuth connector is the fake provider's, and everything lives in pytest-django's test database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connectors.base import Record
from hub.auth import tokens_for
from hub.models import Role
from integrations.knowledge import entries_upsert
from integrations.models import Integration, SyncJob
from tests.console.live_hub import LiveHub
from tests.fakes.confluence import FakeAtlassian
from tests.fakes.confluence_fixtures import seed_spaces
from tests.fakes.notes import NotesServer
from tests.fakes.oauth_provider import FakeOAuthProvider

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SEED = 20261201
# Per operation and role; FUZZ_MAX_EXAMPLES raises it for a longer local run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = ["admin", "member", "anonymous"]
# How often a path parameter is one of this test's objects rather than a random one.
KNOWN_ID_PROBABILITY = 0.8


ACTIONS = ["get_spaces", "get_pages", "get_page", "create_page", "update_page", "delete_page"]
DELETE_INTEGRATION = "DELETE /api/v1/integrations/{integration_id}"
WEBHOOK_RECEIVE = "POST /api/v1/integrations/webhook/{integration_id}/receive"


@dataclass
class FuzzWorld:
    org_id: str
    tokens: dict[str, str]
    integration_ids: list[str]
    doomed_ids: list[str]
    webhook_ids: list[str]
    job_ids: list[str]
    entry_ids: list[str]


@pytest.fixture(scope="module")
def notes_upstream() -> Iterator[NotesServer]:
    with NotesServer() as server:
        server.upstream.put("n1", "Runbook", "Restart the queue, then check the lag.")
        server.upstream.put("n2", "On-call", "Page the secondary after 15 minutes.")
        yield server


@pytest.fixture(scope="module")
def confluence_upstream() -> Iterator[FakeAtlassian]:
    # No OpenAPI check of what reaches it: the fuzzer's action input is meant to be odd.
    with FakeAtlassian(validate=False) as fake:
        seed_spaces(fake, {"OPS": 2})
        yield fake


@pytest.fixture(scope="module")
def fuzz_hub(celery_worker_process) -> Iterator[LiveHub]:
    # Throttle counters of its own: in a cache shared through Redis, the fuzzer's many logins from
    # 127.0.0.1 would otherwise rate-limit the logins of the tests that run after this one.
    with pytest.MonkeyPatch.context() as env, FakeOAuthProvider() as provider:
        env.setenv("CACHE_KEY_PREFIX", f"tributary-fuzz-{uuid.uuid4().hex}")
        with LiveHub.started(oauth_provider_url=provider.url) as live:
            yield live


@pytest.fixture
def fuzz_world(make_org, make_member, notes_upstream, confluence_upstream) -> FuzzWorld:
    org = make_org("Fuzzed", plan="business")
    admin, member = make_member(org, Role.ADMIN), make_member(org, Role.MEMBER)
    webhook = Integration(organisation=org, type="webhook", name="Deploys")
    webhook.credentials = {"signing_secret": "whsec_fuzz-only"}
    webhook.save()
    notes = Integration(organisation=org, type="notes", name="Runbooks")
    notes.config = {"base_url": notes_upstream.url, "api_key": notes_upstream.upstream.api_key}
    notes.save()
    wiki = Integration(organisation=org, type="confluence", name="Wiki")
    model = confluence_upstream.model
    wiki.config = {"site_url": confluence_upstream.site_url, "email": model.email, "api_token": model.api_token}
    wiki.save()
    doomed = [Integration.objects.create(organisation=org, type="webhook", name=f"To delete {n}") for n in range(2)]
    job = SyncJob.objects.create(organisation=org, integration=notes, status="completed")
    entries_upsert(
        integration=notes,
        records=[Record(external_id="n1", title="Runbook", content="Restart the queue.", metadata={"k": "v"})],
    )
    return FuzzWorld(
        org_id=str(org.id),
        tokens={"admin": tokens_for(admin)["access"], "member": tokens_for(member)["access"]},
        integration_ids=[str(webhook.id), str(notes.id), str(wiki.id)],
        doomed_ids=[str(integration.id) for integration in doomed],
        webhook_ids=[str(webhook.id)],
        job_ids=[str(job.id)],
        entry_ids=[str(entry_id) for entry_id in notes.entries.values_list("id", flat=True)],
    )


@pytest.fixture(params=ROLES)
def fuzz_schema(request, fuzz_hub: LiveHub, fuzz_world: FuzzWorld):
    """The schema the live hub serves, with the role's Authorization header on every request."""
    role = request.param
    headers = {"Authorization": f"Bearer {fuzz_world.tokens[role]}"} if role in fuzz_world.tokens else {}
    known = {
        "integrations": fuzz_world.integration_ids,
        "doomed": fuzz_world.doomed_ids,
        "webhooks": fuzz_world.webhook_ids,
        "actions": ACTIONS,
        "jobs": fuzz_world.job_ids,
        "entries": fuzz_world.entry_ids,
        "orgs": [fuzz_world.org_id],
        # Not confluence: unconfigured, its /oauth/start is Knora's documented 500 OAUTH_CONFIG_ERROR,
        # which not_a_server_error counts like any 5xx (tests/hub/test_schema.py shows it is described).
        "connectors": ["fakedrive", "notes", "webhook"],
    }
    bindings = {
        "path.integration_id": "integrations",
        "path.job_id": "jobs",
        "path.entry_id": "entries",
        "path.action": "actions",
        "body.type": "connectors",
        "query.integration": "integrations",
        "query.org_id": "orgs",
        "query.connector": "connectors",
    }
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": fuzz_hub.url,
            "headers": headers,
            "request-timeout": 30,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "dictionaries": {name: {"values": values} for name, values in known.items() if values},
            "parameters": {
                key: {"dictionary": name, "probability": KNOWN_ID_PROBABILITY}
                for key, name in bindings.items()
                if known[name]
            },
            # Only the integrations made to be deleted are deleted, so the others stay for every operation.
            "operations": [
                {
                    "include-name": DELETE_INTEGRATION,
                    "parameters": {"path.integration_id": {"dictionary": "doomed", "probability": 0.5}},
                },
                {
                    "include-name": WEBHOOK_RECEIVE,
                    "parameters": {
                        "path.integration_id": {"dictionary": "webhooks", "probability": KNOWN_ID_PROBABILITY}
                    },
                },
            ],
        }
    )
    return schemathesis.openapi.from_url(f"{fuzz_hub.url}/api/schema/", config=config)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(case):
    case.call_and_validate(checks=CHECKS)
