"""Fixtures for the Leena connector's direct tests: a fake Leena, snapshots, a connector that does not sleep."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from connectors.base import EntrySnapshot, FileSnapshot
from connectors.leena import LeenaConnector
from tests.fakes.leena import FakeLeena


@pytest.fixture
def leena() -> Iterator[FakeLeena]:
    with FakeLeena() as server:
        yield server


class Waits(list):
    """A sleeper that records what it was asked to wait, instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def connector(leena: FakeLeena, waits: Waits) -> Iterator[LeenaConnector]:
    made = LeenaConnector(config=LeenaConnector.validate_config(leena.config()))
    made.sleep = waits
    yield made
    made.close()


def file_of(name: str, content_type: str, content: bytes) -> FileSnapshot:
    return FileSnapshot(name=name, content_type=content_type, size=len(content), open=lambda: io.BytesIO(content))


def snapshot(title: str, content: str = "Some text", **fields) -> EntrySnapshot:
    values = {
        "id": str(uuid.uuid4()),
        "integration_id": str(uuid.uuid4()),
        "external_id": title.lower().replace(" ", "-"),
        "title": title,
        "content": content,
        "html": None,
        "url": "",
        "author": "",
        "language": "",
        "metadata": {},
        "updated_at": datetime(2026, 12, 1, tzinfo=UTC),
        "content_hash": uuid.uuid4().hex,
        "deleted": False,
    }
    return EntrySnapshot(**{**values, **fields})
