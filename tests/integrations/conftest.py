"""Fixtures shared by the sync tests: the fake notes upstream and an integration on it."""

import pytest

from tests.fakes.notes import NotesServer

BASE = "/api/v1/integrations/"


@pytest.fixture
def notes():
    with NotesServer() as server:
        yield server


@pytest.fixture
def notes_integration(admin_client, notes) -> str:
    body = {"type": "notes", "name": "Team notes", "config": {"base_url": notes.url, "api_key": "notes-key"}}
    response = admin_client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]
