"""The one knowledge write rule: only valid Unicode and representable values are stored; the read path cannot fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import DataError, connection, transaction

from connectors.base import Deletion, Record
from hub.models import Role
from integrations.knowledge.clean import MAX_METADATA_DEPTH, RecordRefused, record_cleaned
from integrations.knowledge.writes import entries_tombstone, entries_upsert, entry_upsert_returning_id
from integrations.models import Integration, KnowledgeEntry
from webhooks.signing import signature_for

pytestmark = pytest.mark.django_db
ENTRIES = "/api/v1/knowledge/entries"
UNREPRESENTABLE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-10)))


@pytest.fixture
def integration(org) -> Integration:
    return Integration.objects.create(organisation=org, type="notes", name="Notes")


def deep(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


HOSTILE = Record(
    external_id="hostile",
    title="T\udfff\x00itle",
    content="a\ud800b\x00c \ud83d\ude00",
    html="<p>\udc00</p>\x00",
    url="https://example.com/\udfff",
    author="Ann\x00",
    language="en\udfff",
    metadata={"\udfff": "key", "v": "x\udfffy\x00", "nan": float("nan"), "inf": [float("inf")], "ok": {"n": 1}},
    source_created_at=UNREPRESENTABLE,
    source_updated_at=datetime(2026, 1, 2, 3, 4, 5),
)


def test_a_hostile_record_is_stored_cleaned_and_listed(integration, org, make_member, client_for):
    result = entries_upsert(integration=integration, records=[HOSTILE])
    assert (result.created, result.refused) == (1, [])
    entry = KnowledgeEntry.objects.get(external_id="hostile")
    assert (entry.title, entry.content, entry.html) == ("T\ufffditle", "a\ufffdbc \U0001f600", "<p>\ufffd</p>")
    assert (entry.url, entry.author, entry.language) == ("https://example.com/\ufffd", "Ann", "en\ufffd")
    assert entry.metadata == {"\ufffd": "key", "v": "x\ufffdy", "nan": None, "inf": [None], "ok": {"n": 1}}
    assert entry.source_created_at is None  # UTC cannot hold it
    assert entry.source_updated_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # naive is read as UTC
    response = client_for(make_member(org, Role.MEMBER)).get(ENTRIES)
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["metadata"]["\ufffd"] == "key"


def test_the_same_hostile_record_twice_is_unchanged_the_second_time(integration):
    entries_upsert(integration=integration, records=[HOSTILE])
    again = entries_upsert(integration=integration, records=[HOSTILE])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_the_single_record_path_of_webhooks_cleans_the_same_way(integration):
    entry_id = entry_upsert_returning_id(integration=integration, record=HOSTILE)
    entry = KnowledgeEntry.objects.get(pk=entry_id)
    assert entry.title == "T\ufffditle" and "\ufffd" in entry.metadata and entry.source_created_at is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (Record(external_id="a\x00b", title="t", content="c"), "external id"),
        (Record(external_id="a\udfffb", title="t", content="c"), "external id"),
        (Record(external_id="", title="t", content="c"), "external id"),
        (Record(external_id="deep", title="t", content="c", metadata=deep(MAX_METADATA_DEPTH + 1)), "deeper"),
        (Record(external_id="list", title="t", content="c", metadata=[1]), "not an object"),  # type: ignore[arg-type]
    ],
)
def test_a_record_that_cannot_be_cleaned_is_refused_alone(integration, record, reason):
    fine = Record(external_id="fine", title="Fine", content="c")
    result = entries_upsert(integration=integration, records=[record, fine])
    assert result.created == 1 and len(result.refused) == 1
    assert reason in result.refused[0].reason
    assert list(KnowledgeEntry.objects.values_list("external_id", flat=True)) == ["fine"]
    with pytest.raises(RecordRefused):
        entry_upsert_returning_id(integration=integration, record=record)


def test_metadata_at_the_depth_bound_is_stored(integration):
    result = entries_upsert(
        integration=integration, records=[Record(external_id="d", title="t", content="c", metadata=deep(64))]
    )
    assert result.created == 1 and not result.refused


@pytest.mark.parametrize(
    "moment",
    [
        UNREPRESENTABLE,
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=10))),
        "2026-01-01T00:00:00Z",
    ],
)
def test_a_time_that_cannot_be_represented_is_dropped(moment):
    cleaned = record_cleaned(Record(external_id="x", title="t", content="c", source_created_at=moment))
    assert cleaned.source_created_at is None


def test_a_deletion_with_an_id_no_entry_can_have_is_ignored(integration):
    entries_upsert(integration=integration, records=[Record(external_id="kept", title="t", content="c")])
    deleted = entries_tombstone(
        integration=integration, deletions=[Deletion(external_id="\udfff"), Deletion(external_id="kept")]
    )
    assert deleted == 1


def test_a_webhook_metadata_key_that_is_a_lone_surrogate_never_breaks_the_knowledge_list(admin_client, org):
    """Today: the key was stored (SQLite keeps the escape) and every later GET of the list answered 500."""
    created = admin_client.post("/api/v1/integrations/", {"type": "webhook", "name": "Hook"}, format="json")
    assert created.status_code == 201, created.content
    hook = created.json()
    raw = b'{"title": "Deploy", "content": "done", "\\udfff": "x", "tags": {"\\udfff": 1}}'
    path = f"/api/v1/integrations/webhook/{hook['id']}/receive"
    received = admin_client.generic(
        "POST",
        path,
        raw,
        content_type="application/json",
        headers={"X-Knora-Signature": signature_for(hook["signing_secret"], raw)},
    )
    assert received.status_code < 500, received.content
    listed = admin_client.get(ENTRIES)
    assert listed.status_code == 200, listed.content
    for entry in listed.json()["results"]:
        assert "\udfff" not in json.dumps(entry["metadata"], ensure_ascii=False).encode(
            "utf-16", "surrogatepass"
        ).decode("utf-16")


def test_a_row_stored_before_the_rule_is_listed_cleaned(integration, org, make_member, client_for):
    """SQLite kept a lone surrogate escape in a JSON column; PostgreSQL's jsonb never accepted one."""
    entries_upsert(integration=integration, records=[Record(external_id="old", title="Old", content="c")])
    legacy = {"\udfff": "x", "nested": {"v": "a\udfffb"}}
    if connection.vendor == "postgresql":
        with pytest.raises(DataError), transaction.atomic():
            KnowledgeEntry.objects.filter(external_id="old").update(metadata=legacy)
        return
    KnowledgeEntry.objects.filter(external_id="old").update(metadata=legacy)
    client = client_for(make_member(org, Role.MEMBER))
    listed = client.get(ENTRIES)
    assert listed.status_code == 200, listed.content
    assert listed.json()["results"][0]["metadata"] == {"\ufffd": "x", "nested": {"v": "a\ufffdb"}}
    entry_id = listed.json()["results"][0]["id"]
    detail = client.get(f"{ENTRIES}/{entry_id}")
    assert detail.status_code == 200 and detail.json()["metadata"]["\ufffd"] == "x"
