"""Fixtures for the Leena tests through a real worker: a fake Leena, a source of entries, a destination."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.base import Record
from integrations.knowledge import entries_upsert
from integrations.models import Integration
from tests.fakes.leena import FakeLeena
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended

BASE = "/api/v1/integrations/"


@pytest.fixture
def leena() -> Iterator[FakeLeena]:
    with FakeLeena() as server:
        yield server


def create(client, body: dict) -> str:
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def source_with_entries(client, notes, records: list[Record], name: str = "Handbook") -> str:
    """A notes integration whose entries are `records`, written through the knowledge base's write path."""
    source = create(client, {"type": "notes", "name": name, "config": {"base_url": notes.url, "api_key": "notes-key"}})
    entries_upsert(integration=Integration.objects.get(pk=source), records=records)
    return source


def records(count: int, prefix: str = "doc") -> list[Record]:
    return [
        Record(external_id=f"{prefix}{n}", title=f"Page {prefix}{n}", content=f"Text of {prefix}{n}")
        for n in range(count)
    ]


def destination(client, leena: FakeLeena, source: str, **config) -> str:
    return create(client, {"type": "leena", "name": "Leena", "config": leena.config(sources=source, **config)})


def run(client, integration_id: str, status: str = "completed") -> dict:
    """Run the integration through the worker; the finished job with its log."""
    job = job_ended(client, integration_id, start_sync(client, integration_id)["sync_job_id"], timeout=90)
    assert job["status"] == status, job
    return client.get(f"{BASE}{integration_id}/history/{job['id']}").json()


def push_figures(job: dict) -> tuple:
    """(offered, sent, accepted, unchanged, created remotely, failed)."""
    return (
        job["records_found"],
        job["records_synced"],
        job["records_imported"],
        job["records_skipped"],
        job["entries_created"],
        job["progress"]["records_failed"],
    )
