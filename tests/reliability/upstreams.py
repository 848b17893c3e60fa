"""The connectors of the fault matrix, each as an `Upstream`: its fake behind a fault proxy, an integration
that talks to the proxy, what the fake holds (what a completed run must have brought or sent exactly) and
the secrets no message may show.

Each upstream's fake is made anew for a row; the proxies live for the module (the worker is told their
URLs once, at start) and are pointed at the row's fake."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from connectors.base import Record
from hub.models import Organisation
from integrations.knowledge import entries_upsert
from integrations.models import Integration, KnowledgeEntry
from tests.fakes.confluence import CLIENT_SECRET as CONFLUENCE_CLIENT_SECRET
from tests.fakes.confluence import FakeAtlassian
from tests.fakes.faults import FaultProxy
from tests.fakes.haiilo import FakeHaiilo
from tests.fakes.leanix import FakeLeanIX
from tests.fakes.leena import FakeLeena

BASE = "/api/v1/integrations/"
ENTRIES = 5


def create(client, body: dict[str, Any]) -> str:
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def live_titles(integration_id: str) -> dict[str, str]:
    entries = KnowledgeEntry.objects.filter(integration_id=integration_id, deleted_at__isnull=True)
    return {entry.external_id: entry.title for entry in entries}


def notes_source_filled(client) -> str:
    """A notes integration whose knowledge base holds ENTRIES pages (its upstream is never asked)."""
    config = {"base_url": "http://127.0.0.1:9", "api_key": "notes-key"}
    source = create(client, {"type": "notes", "name": "Handbook", "config": config})
    records = [Record(external_id=f"doc{n}", title=f"Page {n}", content=f"Text {n}") for n in range(ENTRIES)]
    entries_upsert(integration=Integration.objects.get(pk=source), records=records)
    return source


@dataclass
class Upstream:
    """One connector's side of a row. `proxies` are the module's, by name."""

    proxies: dict[str, FaultProxy]
    name: ClassVar[str]  # how the upstream is named in messages
    proxy_names: ClassVar[tuple[str, ...]]
    tokens_per_run: ClassVar[int] = 1  # tokens a run asks for when nothing goes wrong
    fake: Any = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        raise NotImplementedError

    def integration(self, client) -> str:
        raise NotImplementedError

    def expected(self) -> dict[str, str]:
        """What a completed run ends with: keys and titles."""
        raise NotImplementedError

    def actual(self, integration_id: str) -> dict[str, str]:
        return live_titles(integration_id)

    def secrets(self) -> set[str]:
        raise NotImplementedError

    def token_requests(self) -> int | None:
        """How many tokens the fake issued, for the upstreams that have a token endpoint."""
        return None


class Haiilo(Upstream):
    name = "Haiilo"
    proxy_names = ("haiilo",)

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        with FakeHaiilo() as self.fake:
            self.ids = [
                self.fake.tenant.create(
                    "blog-article",
                    title={"en": f"Article {n}"},
                    textContent={"en": f"<p>Text of article {n}</p>"},
                    defaultLanguage="en",
                    status="PUBLISHED",
                    visibility="PUBLIC",
                )
                for n in range(ENTRIES)
            ]
            self.proxies["haiilo"].reset(self.fake.url)
            yield self

    def integration(self, client) -> str:
        config = self.fake.config(base_url=self.proxies["haiilo"].url, page_size=2)
        return create(client, {"type": "haiilo", "name": "Intranet", "config": config})

    def expected(self) -> dict[str, str]:
        return {f"blog-article:{entity_id}": f"Article {n}" for n, entity_id in enumerate(self.ids)}

    def secrets(self) -> set[str]:
        return {self.fake.tenant.client_secret, *self.fake.tenant.tokens}

    def token_requests(self) -> int:
        return self.fake.tenant.token_requests


class Confluence(Upstream):
    """Basic authentication against the site (API token), pages of two spaces."""

    name = "Confluence"
    proxy_names = ("confluence",)

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        with FakeAtlassian() as self.fake:
            for key in ("ENG", "HR"):
                self.fake.model.add_space(key, f"Space {key}")
            for n in range(ENTRIES):
                key = "ENG" if n % 2 else "HR"
                self.fake.model.add_page(key, f"Page {n}", f"<p>Body of page {n}</p>")
            self.proxies["confluence"].reset(self.fake.site_url)
            yield self

    def integration(self, client) -> str:
        model = self.fake.model
        config = {"site_url": self.proxies["confluence"].url, "email": model.email, "api_token": model.api_token}
        return create(client, {"type": "confluence", "name": "Wiki", "config": config})

    def expected(self) -> dict[str, str]:
        return {str(page.id): page.current.title for page in self.fake.model.pages.values()}

    def secrets(self) -> set[str]:
        return {self.fake.model.api_token}


class ConfluenceOAuth(Confluence):
    """Atlassian 3LO through the API gateway (a proxy) and the token endpoint (another): the grant is
    stored as the popup would have stored it, so an expired access token is refreshed."""

    proxy_names = ("atlassian-api", "atlassian-auth")
    tokens_per_run = 0  # the stored access token is still valid

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        with super().running():
            self.proxies["atlassian-api"].reset(self.fake.api_url)
            self.proxies["atlassian-auth"].reset(self.fake.auth_url)
            yield self

    def integration(self, client) -> str:
        organisation = Organisation.objects.get()  # the one the admin client belongs to
        integration = Integration(organisation=organisation, type="confluence", name="Wiki")
        integration.config = {"spaces": "ENG,HR"}
        grant = self.fake.model.issue_tokens()
        integration.credentials = {
            "access_token": grant["access_token"],
            "refresh_token": grant["refresh_token"],
            "expires_at": int(time.time()) + 3600,
            "cloud_id": self.fake.model.cloud_id,
            "site_url": self.fake.site_url,
        }
        integration.save()
        return str(integration.id)

    def secrets(self) -> set[str]:
        tokens = self.fake.model.tokens
        return {CONFLUENCE_CLIENT_SECRET, *tokens.access, *tokens.refresh_valid}

    def token_requests(self) -> int:
        return len(self.fake.auth_log.token_requests)


class Leena(Upstream):
    """A destination: the knowledge base of a source is filled first, the run publishes it to Leena."""

    name = "Leena AI"
    proxy_names = ("leena",)

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        with FakeLeena() as self.fake:
            self.proxies["leena"].reset(self.fake.url)
            yield self

    def integration(self, client) -> str:
        self.source = notes_source_filled(client)
        url = self.proxies["leena"].url
        config = self.fake.config(sources=self.source, api_base_url=url, auth_url=url)
        return create(client, {"type": "leena", "name": "Leena", "config": config})

    def expected(self) -> dict[str, str]:
        return {entry.title: entry.title for entry in KnowledgeEntry.objects.filter(integration_id=self.source)}

    def actual(self, integration_id: str) -> dict[str, str]:
        names = [article["name"] for article in self.fake.upstream.articles.values()]
        assert len(names) == len(set(names)), f"an article sent twice: {names}"
        return {name: name for name in names}

    def secrets(self) -> set[str]:
        upstream = self.fake.upstream
        return {upstream.client_secret, upstream.password, *upstream.tokens}

    def token_requests(self) -> int:
        return self.fake.upstream.count("token")


class LeanIX(Upstream):
    """`from_leanix`: one outbound run whose results become entries."""

    name = "SAP LeanIX"
    proxy_names = ("leanix",)

    @contextlib.contextmanager
    def running(self) -> Iterator[Upstream]:
        with FakeLeanIX() as self.fake:
            for n in range(ENTRIES):
                self.fake.workspace.fact_sheet_add("Application", f"App {n}", description=f"What app {n} does")
            self.proxies["leanix"].reset(self.fake.url)
            yield self

    def integration(self, client) -> str:
        config = self.fake.config(host=self.proxies["leanix"].url)
        return create(client, {"type": "leanix", "name": "LeanIX", "config": config})

    def expected(self) -> dict[str, str]:
        return {f"{sheet.id}": sheet.name for sheet in self.fake.workspace.fact_sheets.values()}

    def actual(self, integration_id: str) -> dict[str, str]:
        return {key.rsplit(":", 1)[-1]: title for key, title in live_titles(integration_id).items()}

    def secrets(self) -> set[str]:
        return {self.fake.workspace.api_token, *self.fake.workspace.tokens}

    def token_requests(self) -> int:
        return self.fake.workspace.token_requests


class LeanIXPush(LeanIX):
    """`to_leanix`: a notes source's knowledge base filled first, the run sends it in one inbound run;
    the fact sheets that run created (by external id) are what LeanIX ends with."""

    def integration(self, client) -> str:
        self.source = notes_source_filled(client)
        config = self.fake.config(host=self.proxies["leanix"].url, direction="to_leanix", sources=self.source)
        return create(client, {"type": "leanix", "name": "LeanIX", "config": config})

    def expected(self) -> dict[str, str]:
        return {entry.title: entry.title for entry in KnowledgeEntry.objects.filter(integration_id=self.source)}

    def actual(self, integration_id: str) -> dict[str, str]:
        sheets = [sheet for sheet in self.fake.workspace.fact_sheets.values() if sheet.external_id is not None]
        names = [sheet.name for sheet in sheets if sheet.status == "ACTIVE"]
        assert len(names) == len(set(names)), f"a fact sheet written twice: {names}"
        # One job, one inbound run: a retry of the job must not send the batch again in a run of its own.
        runs = [run for run in self.fake.workspace.runs.values() if run.ldif["processingDirection"] == "inbound"]
        assert len([run for run in runs if run.started_at is not None]) <= 1, f"runs started: {len(runs)}"
        return {name: name for name in names}


UPSTREAMS: dict[str, type[Upstream]] = {
    "haiilo": Haiilo,
    "confluence": Confluence,
    "confluence-oauth": ConfluenceOAuth,
    "leena": Leena,
    "leanix": LeanIX,
    "leanix-push": LeanIXPush,
}
