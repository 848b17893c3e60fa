"""A full sync of every connector, with every logger at DEBUG, leaves no secret where it should not be.

The hub runs under gunicorn and the sync in a real Celery worker, both at DEBUG (httpx and httpcore
included, tests/leak_settings.py), against the fake upstreams on 127.0.0.1. Each secret is a distinctive
value, searched raw, URL-encoded and, where it travels in HTTP Basic auth, as base64 of `user:secret`, in
both processes' logs, this process's log, every API answer (headers and body), every Django admin list
and change page, the jobs' logs in the database and every task message published to the broker. Each
search is shown to work on the one place each secret legitimately is: the upstream that received it,
or the 201 that shows a webhook's signing secret once.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from django.conf import settings
from django.contrib import admin
from django.test import Client

import tests.fakes.confluence as fake_confluence
from connectors import registry
from hub.models import Role, User
from integrations.models import Integration, OAuthState, SyncJob
from integrations.runs.engine import sync_job_run
from tests.console.live_hub import LiveHub
from tests.fakes.confluence import FakeAtlassian
from tests.fakes.confluence_fixtures import seed_spaces
from tests.fakes.echoing import EchoingUpstream
from tests.fakes.haiilo import FakeHaiilo, HaiiloTenant
from tests.fakes.leanix import FakeLeanIX
from tests.fakes.leena import FakeLeena
from tests.fakes.notes import NotesServer
from tests.fakes.shelf import ShelfServer
from tests.worker_process import WorkerProcess
from webhooks.signing import SIGNATURE_HEADER, signature_for

API = "/api/v1/integrations/"
COVERED_CONNECTORS = {"webhook", "notes", "haiilo", "confluence", "leanix", "shelf", "shelf-two-way", "leena"}
DEBUG_LOGGERS = ("", "httpx", "httpcore", "django", "celery", "kombu", "connectors", "integrations", "webhooks")


def marked(name: str) -> str:
    """A secret no text holds by accident; `+/=` make its URL-encoded forms differ from it."""
    return f"LEAK{name}{secrets.token_hex(8)}+/={secrets.token_hex(4)}"


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    basic_user: str | None = None  # sent in HTTP Basic auth as base64(user:value)

    def forms(self) -> dict[str, str]:
        forms = {"raw": self.value, "url-encoded": quote(self.value, safe=""), "form-encoded": quote_plus(self.value)}
        if self.basic_user is not None:
            forms["basic"] = base64.b64encode(f"{self.basic_user}:{self.value}".encode()).decode()
        distinct: dict[str, str] = {}
        for form, needle in forms.items():  # a token with no character to encode has one form only
            distinct.setdefault(needle, form)
        return {form: needle for needle, form in distinct.items()}


def sightings(secret: Secret, haystacks: dict[str, str]) -> set[tuple[str, str]]:
    """(form, where) for each form of the secret found in a haystack."""
    return {
        (form, where) for where, text in haystacks.items() for form, needle in secret.forms().items() if needle in text
    }


@dataclass
class AnswerLog:
    """Every answer the hub gave this test, with its headers, as a haystack per answer."""

    answers: dict[str, str] = field(default_factory=dict)

    def record(self, response: httpx.Response) -> None:
        response.read()
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        key = f"answer {len(self.answers) + 1}: {response.request.method} {response.url.path} -> {response.status_code}"
        self.answers[key] = f"{headers}\n\n{response.text}"

    @property
    def last(self) -> str:
        return next(reversed(self.answers))


def authorizations_recorded(server) -> list[str]:
    """The Authorization headers a fake's HTTP server receives, as they came over the wire."""
    seen: list[str] = []
    handler = server.RequestHandlerClass

    class Recording(handler):
        def parse_request(self) -> bool:
            parsed = super().parse_request()
            if parsed and self.headers.get("Authorization"):
                seen.append(self.headers["Authorization"])
            return parsed

    server.RequestHandlerClass = Recording
    return seen


@dataclass
class Upstreams:
    notes: NotesServer
    shelf: ShelfServer
    haiilo: FakeHaiilo
    atlassian: FakeAtlassian
    leanix: FakeLeanIX
    leena: FakeLeena
    authorizations: list[list[str]]  # per fake server, the Authorization headers it received

    def wire(self) -> str:
        return "\n".join(header for received in self.authorizations for header in received)


@pytest.fixture
def upstreams(monkeypatch) -> Iterator[Upstreams]:
    # The fake Atlassian checks the client secret against its module constant: make it distinctive too.
    monkeypatch.setattr(fake_confluence, "CLIENT_SECRET", marked("atlassianclientsecret"))
    with (
        NotesServer() as notes,
        ShelfServer() as shelf,
        FakeHaiilo(HaiiloTenant(client_id="tributary-leak", client_secret=marked("haiilosecret"))) as haiilo,
        FakeAtlassian(validate=False) as atlassian,
        FakeLeanIX() as leanix,
        FakeLeena() as leena,
    ):
        notes.upstream.api_key = marked("notesapikey")
        shelf.upstream.api_key = marked("shelfapikey")
        atlassian.model.api_token = marked("confluenceapitoken")
        leanix.workspace.api_token = marked("leanixapitoken")
        leena.upstream.client_secret, leena.upstream.password = marked("leenasecret"), marked("leenapassword")
        servers = (notes.server, shelf.server, haiilo.server, leanix.server, *atlassian.servers.values(), leena.server)
        authorizations = [authorizations_recorded(server) for server in servers]
        yield Upstreams(
            notes=notes,
            shelf=shelf,
            haiilo=haiilo,
            atlassian=atlassian,
            leanix=leanix,
            leena=leena,
            authorizations=authorizations,
        )


@dataclass
class Processes:
    hub: LiveHub
    worker: WorkerProcess
    task_capture: Path


@pytest.fixture
def processes(upstreams, tmp_path) -> Iterator[Processes]:
    """The hub under gunicorn and a worker on their own queue, both logging everything at DEBUG."""
    capture = tmp_path / "task-messages.jsonl"
    capture.touch()
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.leak_settings",
        "LOG_LEVEL": "DEBUG",
        "LEAK_TEST_TASK_CAPTURE_FILE": str(capture),
        # Its own queue: a session worker on the default queue (at INFO) must not take these tasks.
        "CELERY_TASK_DEFAULT_QUEUE": f"{settings.CELERY_TASK_DEFAULT_QUEUE}-leaks",
        "ATLASSIAN_AUTH_URL": upstreams.atlassian.auth_url,
        "ATLASSIAN_API_URL": upstreams.atlassian.api_url,
        "ATLASSIAN_CLIENT_ID": fake_confluence.CLIENT_ID,
        "ATLASSIAN_CLIENT_SECRET": fake_confluence.CLIENT_SECRET,
    }
    with (
        WorkerProcess.started(log_level="DEBUG", extra_env=env) as worker,
        LiveHub.started(oauth_provider_url="http://127.0.0.1:9", log_level="debug", extra_env=env) as hub,
    ):
        yield Processes(hub=hub, worker=worker, task_capture=capture)


def synced(api: Callable[..., httpx.Response], integration_id: str, timeout: float = 90) -> dict[str, Any]:
    """POST /sync, then the job's detail (with its log) once it has finished."""
    started = api("POST", f"{API}{integration_id}/sync")
    assert started.status_code == 202, started.text
    job_id = started.json()["sync_job_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api("GET", f"{API}{integration_id}/history/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def oauth_connected(api, hub_client: httpx.Client, org_id: str) -> str:
    """The Atlassian popup, driven as a browser would: start, consent, callback; then finalise."""
    auth_url = api("GET", f"{API}oauth/start", params={"connector": "confluence", "org_id": org_id}).json()["auth_url"]
    consent = httpx.get(auth_url, follow_redirects=False)
    assert consent.status_code == 302, consent.text
    callback = hub_client.get(consent.headers["Location"])
    found = re.search(r'<script id="oauth-message" type="application/json">(.*?)</script>', callback.text)
    message = json.loads(found.group(1))
    assert message["type"] == "knora:oauth:success", message
    body = {"type": "confluence", "name": "Wiki (OAuth)", "pending_integration_id": message["integrationId"],
            "config": {"spaces": "ENG"}}  # fmt: skip
    finalised = api("POST", API, json=body)
    assert finalised.status_code == 201, finalised.text
    return finalised.json()["id"]


def admin_pages(email: str, password: str) -> dict[str, str]:
    """Every admin list page, and the change page of each object, as a superuser logged in by the form."""
    client = Client()
    login = client.post("/admin/login/", {"username": email, "password": password, "next": "/admin/"})
    assert login.status_code == 302, login.content[:500]
    pages: dict[str, str] = {}
    for model, _model_admin in admin.site._registry.items():
        meta = model._meta
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        paths = [base, *(f"{base}{obj.pk}/change/" for obj in model.objects.all()[:25])]
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            pages[f"admin {path}"] = response.content.decode()
    return pages


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_full_sync_of_every_connector_at_debug_leaks_no_secret(upstreams, processes, make_org, make_member, caplog):
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    assert {cls.info.type for cls in registry.all_connectors()} == COVERED_CONNECTORS, "cover the new connector here"
    org = make_org("Leaky", plan="business")
    password, admin_password = marked("loginpassword"), marked("adminpassword")
    member = make_member(org, Role.ADMIN, email="ann@leaky.example", password=password)
    User.objects.create_superuser("operator@leaky.example", admin_password)
    notes, shelf, haiilo, atlassian = upstreams.notes, upstreams.shelf, upstreams.haiilo, upstreams.atlassian
    notes.upstream.put("n1", "Runbook", "Restart the service, then check the queue.")
    notes.upstream.put("n2", "On call", "Page the on-call engineer.")
    haiilo.tenant.generate(40, update_share=0.2)
    seed_spaces(atlassian, {"ENG": 3})
    upstreams.leanix.workspace.fact_sheet_add("Application", "CRM", description="Customer records")

    answers = AnswerLog()
    hooks = {"response": [answers.record]}
    hub = httpx.Client(base_url=processes.hub.url, timeout=30, event_hooks=hooks)
    login = hub.post("/api/v1/auth/token", json={"email": member.user.email, "password": password})
    assert login.status_code == 200, login.text
    tokens, login_answer = login.json(), answers.last
    hub.headers["Authorization"] = f"Bearer {tokens['access']}"

    def api(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = hub.request(method, path, **kwargs)
        assert response.status_code < 500, (method, path, response.status_code, response.text)
        return response

    connectors = api("GET", f"{API}connectors").json()["connectors"]
    assert {c["type"] for c in connectors} == COVERED_CONNECTORS

    webhook = api("POST", API, json={"type": "webhook", "name": "Deploys", "config": {"source_label": "ci"}})
    assert webhook.status_code == 201, webhook.text
    webhook_created = answers.last
    signing_secret, webhook_url = webhook.json()["signing_secret"], webhook.json()["webhook_url"]
    configs = {
        "Runbooks": {"type": "notes", "config": {"base_url": notes.url, "api_key": notes.upstream.api_key}},
        "Intranet": {"type": "haiilo", "config": haiilo.config(page_size=25)},
        "Wiki (Basic)": {"type": "confluence", "config": {
            "site_url": atlassian.site_url, "email": atlassian.model.email,
            "api_token": atlassian.model.api_token, "spaces": "ENG"}},
        # Destinations last: their runs publish what the sources brought in.
        "Published": {"type": "shelf", "config": {"base_url": shelf.url, "api_key": shelf.upstream.api_key}},
        "Shelf both ways": {"type": "shelf-two-way", "config": {
            "base_url": shelf.url, "api_key": shelf.upstream.api_key}},
        "LeanIX both ways": {"type": "leanix", "config": upstreams.leanix.config(direction="both")},
        "Leena": {"type": "leena", "config": upstreams.leena.config()},
    }  # fmt: skip
    ids = {"Deploys": webhook.json()["id"]}
    for name, body in configs.items():
        created = api("POST", API, json={"name": name, **body})
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    ids["Wiki (OAuth)"] = oauth_connected(api, hub, str(org.id))
    last = ("Published", "Shelf both ways", "LeanIX both ways", "Leena")
    ids = {name: ids[name] for name in sorted(ids, key=lambda name: name in last)}

    delivery = json.dumps({"text": "Deployment completed for v2.4.1", "author": "ci"}).encode()
    received = api(
        "POST",
        webhook_url,
        content=delivery,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature_for(signing_secret, delivery)},
    )
    assert received.status_code == 202, received.text

    # The OAuth integration's sync starts with an expired access token: the worker refreshes it, so the
    # client secret and a rotating refresh token cross the wire in the worker too.
    atlassian.model.expire_access_tokens()
    jobs = {name: synced(api, integration_id) for name, integration_id in ids.items()}
    assert {name: job["status"] for name, job in jobs.items()} == dict.fromkeys(ids, "completed"), jobs
    assert all(jobs[name]["entries_created"] for name in ids if name != "Deploys"), jobs
    assert atlassian.model.tokens.refreshes >= 1

    for name, integration_id in ids.items():
        for suffix in ("health", "connection-health", "preview", "history", "actions"):
            api("GET", f"{API}{integration_id}/{suffix}")
        assert api("GET", f"{API}{integration_id}/connection-health").json()["healthy"], name
        assert api("PATCH", f"{API}{integration_id}", json={"name": f"{name} (renamed)"}).status_code == 200
    for name in ("Wiki (Basic)", "Wiki (OAuth)"):
        assert api("POST", f"{API}{ids[name]}/actions/get_spaces", json={}).status_code == 200
    api("GET", API)
    entries = api("GET", "/api/v1/knowledge/entries").json()
    assert entries["results"], entries
    api("GET", f"/api/v1/knowledge/entries/{entries['results'][0]['id']}")
    api("GET", "/api/v1/auth/me")
    hub.close()
    assert OAuthState.objects.exists()

    admin = admin_pages("operator@leaky.example", admin_password)
    job_rows = {
        f"job row {job.id}": json.dumps([job.log, job.error_message, job.progress], default=str)
        for job in SyncJob.objects.all()
    }
    assert job_rows.keys() == {f"job row {job['id']}" for job in jobs.values()}
    processes.hub.process.terminate()
    processes.worker.process.terminate()
    processes.hub.process.wait(timeout=15)
    processes.worker.process.wait(timeout=15)
    broker = {f"task message {n}": line for n, line in enumerate(processes.task_capture.read_text().splitlines(), 1)}
    haystacks = {
        "hub log": processes.hub.log(),
        "worker log": processes.worker.log(),
        "test process log": caplog.text,
        **answers.answers,
        **admin,
        **job_rows,
        **broker,
    }

    # Each haystack holds what it should, so an empty or quiet one cannot pass for a clean one.
    for where in ("hub log", "worker log", "test process log"):
        assert "send_request_headers.started" in haystacks[where], f"{where} has no httpcore DEBUG lines"
    assert "DEBUG" in haystacks["worker log"] and "integrations.run_sync_job" in haystacks["worker log"]
    assert all(any(job["id"] in message for message in broker.values()) for job in jobs.values()), broker
    for name in ids:
        assert any(f"{name} (renamed)" in page for page in admin.values()), f"no admin page shows {name}"
    for model in ("integration", "syncjob", "knowledgeentry"):  # OAuthState's too, once it has an admin
        assert any(f"/admin/integrations/{model}/" in where and "/change/" in where for where in admin), model

    wire, token_requests = upstreams.wire(), json.dumps(atlassian.auth_log.token_requests)
    leanix_workspace = upstreams.leanix.workspace
    assert leanix_workspace.tokens_presented and leanix_workspace.runs
    atlassian_tokens = atlassian.model.tokens
    leena = upstreams.leena.upstream
    assert leena.tokens and leena.completed
    leena_sent = {call.token for call in leena.calls if call.token}
    assert haiilo.tenant.tokens and len(atlassian_tokens.access) >= 2 and atlassian_tokens.refresh_rotated
    upstream_secrets = [
        # (secret, what the upstream received: the search must find it there, in the form it travels in)
        (Secret("notes api_key", notes.upstream.api_key), wire),
        (Secret("shelf api_key", upstreams.shelf.upstream.api_key), wire),
        (Secret("haiilo client_secret", haiilo.tenant.client_secret, basic_user=haiilo.tenant.client_id), wire),
        (Secret("confluence api_token", atlassian.model.api_token, basic_user=atlassian.model.email), wire),
        (Secret("leanix api_token", upstreams.leanix.workspace.api_token, basic_user="apitoken"), wire),
        # A token only asked for (the live checks of create and health) is never sent: found nowhere.
        *(
            (Secret("leanix access token", token), wire if token in leanix_workspace.tokens_presented else None)
            for token in leanix_workspace.tokens
        ),
        (Secret("atlassian client_secret", fake_confluence.CLIENT_SECRET), token_requests),
        (Secret("leena client_secret", leena.client_secret, basic_user=leena.client_id), wire),
        (Secret("leena password", leena.password), "\n".join(leena.token_bodies)),
        # Tokens a probe asked for were never sent on: only those the article calls carried are on the wire.
        *((Secret("leena access token", token), wire if token in leena_sent else None) for token in leena.tokens),
        *((Secret("haiilo access token", token), wire) for token in haiilo.tenant.tokens),
        *((Secret("atlassian access token", token), wire) for token in atlassian_tokens.access),
        *((Secret("atlassian refresh token", token), token_requests) for token in atlassian_tokens.refresh_rotated),
        # The newest refresh token has not been sent anywhere yet: it is only stored, sealed.
        *((Secret("atlassian refresh token", token), None) for token in atlassian_tokens.refresh_valid),
    ]
    for secret, received in upstream_secrets:
        if received is not None:
            form = "basic" if secret.basic_user is not None else "raw"
            assert sightings(secret, {"upstream": received}) == {(form, "upstream")}, secret.name

    hub_secrets = [
        Secret("login password", password),
        Secret("admin password", admin_password),
        Secret("webhook signing secret", signing_secret),
        Secret("webhook signing key", signing_secret.removeprefix("whsec_")),
        Secret("access JWT", tokens["access"]),
        Secret("refresh JWT", tokens["refresh"]),
    ]
    allowed = {
        "webhook signing secret": {("raw", webhook_created)},
        "webhook signing key": {("raw", webhook_created)},
        "access JWT": {("raw", login_answer)},
        "refresh JWT": {("raw", login_answer)},
    }
    for name, places in allowed.items():  # where each legitimately is, once: the search finds it there
        secret = next(s for s in hub_secrets if s.name == name)
        assert sightings(secret, {where: haystacks[where] for _, where in places}) == places, name

    leaks = [
        f"{secret.name} ({form}) in {where}: ...{excerpt(haystacks[where], secret.forms()[form])}..."
        for secret in [*hub_secrets, *(secret for secret, _ in upstream_secrets)]
        for form, where in sorted(sightings(secret, haystacks) - allowed.get(secret.name, set()))
    ]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


def excerpt(text: str, needle: str, around: int = 150) -> str:
    at = text.find(needle)
    return " ".join(text[max(0, at - around) : at + len(needle) + around].split())


@pytest.mark.django_db
def test_an_upstream_that_echoes_the_credentials_it_got_sees_them_masked_everywhere(
    make_org, make_member, client_for, settings, caplog
):
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    with EchoingUpstream() as echo:
        settings.ATLASSIAN_AUTH_URL = settings.ATLASSIAN_API_URL = echo.url
        settings.ATLASSIAN_CLIENT_ID, settings.ATLASSIAN_CLIENT_SECRET = "atl-client-id", marked("clientsecret")
        org = make_org("Echoed", plan="business")
        client = client_for(make_member(org, Role.ADMIN))
        answers: dict[str, str] = {}

        def api(method: str, path: str, body: Any = None) -> Any:
            response = getattr(client, method.lower())(path, body, format="json")
            assert response.status_code not in (500, 503), (path, response.status_code, response.content)
            headers = "\n".join(f"{k}: {v}" for k, v in response.items())
            answers[f"answer {len(answers) + 1}: {method} {path} -> {response.status_code}"] = (
                f"{headers}\n\n{response.content.decode()}"
            )
            return response

        secrets_ = {
            "notes": {"base_url": echo.url, "api_key": marked("notesapikey")},
            "haiilo": {"base_url": echo.url, "client_id": "tributary-echo", "client_secret": marked("haiilosecret")},
            "confluence": {"site_url": echo.url, "email": "ann@echo.example", "api_token": marked("apitoken")},
        }
        refused = api("POST", API, {"type": "confluence", "name": "Refused", "config": secrets_["confluence"]})
        assert refused.status_code in (400, 502)
        oauth_tokens = {"access_token": marked("access"), "refresh_token": marked("refresh")}
        integrations = []
        for type_, config, credentials in [
            *((type_, config, {}) for type_, config in secrets_.items()),
            # One OAuth grant sends its access token; the other, about to expire, its refresh token first.
            *(
                (
                    "confluence",
                    {"spaces": ""},
                    {**oauth_tokens, "cloud_id": "c1", "site_url": echo.url, "expires_at": at},
                )
                for at in (int(time.time()) + 3600, 1)
            ),
        ]:
            integration = Integration(organisation=org, type=type_, name=f"Echoed {type_}")
            integration.config, integration.credentials = config, credentials
            integration.save()
            integrations.append(integration)
        for integration in integrations:
            base = f"{API}{integration.id}"
            api("GET", f"{base}/connection-health")
            api("GET", f"{base}/preview")
            if integration.type == "confluence":
                api("POST", f"{base}/actions/get_spaces", {})
            job_id = api("POST", f"{base}/sync").json()["sync_job_id"]
            sync_job_run(job_id=str(job_id), org_id=str(org.id))
            assert api("GET", f"{base}/history/{job_id}").json()["status"] == "failed"

    assert len(echo.received) >= 8
    upstream = "\n".join(echo.received)
    secrets_sent = [
        Secret("notes api_key", secrets_["notes"]["api_key"]),
        Secret("haiilo client_secret", secrets_["haiilo"]["client_secret"], basic_user="tributary-echo"),
        Secret("confluence api_token", secrets_["confluence"]["api_token"], basic_user="ann@echo.example"),
        Secret("atlassian client_secret", settings.ATLASSIAN_CLIENT_SECRET),
        Secret("atlassian access token", oauth_tokens["access_token"]),
        Secret("atlassian refresh token", oauth_tokens["refresh_token"]),
    ]
    for secret in secrets_sent:  # each was sent, and echoed: the search sees it where the upstream had it
        assert ("raw", "upstream") in sightings(secret, {"upstream": upstream}), secret.name
    job_rows = {
        f"job row {job.id}": json.dumps([job.log, job.error_message, job.progress], default=str)
        for job in SyncJob.objects.all()
    }
    haystacks = {"test process log": caplog.text, **answers, **job_rows}
    leaks = [
        f"{secret.name} ({form}) in {where}: ...{excerpt(haystacks[where], secret.forms()[form])}..."
        for secret in secrets_sent
        for form, where in sorted(sightings(secret, haystacks))
    ]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)
