"""Files of knowledge entries: stored once per version under safe paths, capped while streaming, removed
with their entry, integration or organisation, handed to destinations, listed and downloaded by members."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connectors.base import Deletion, Record, RecordFile
from hub.auth import tokens_for
from hub.models import Role
from hub.services import organisation_delete
from integrations.knowledge import entries_tombstone, entries_upsert
from integrations.knowledge.files import entry_file_snapshots, entry_files_write
from integrations.models import EntryFile, Integration, KnowledgeEntry
from integrations.runs.jobs import JobLog
from integrations.runs.push import _batch_read
from integrations.services import integration_delete
from tests.hub.test_schema import assert_as_described

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/knowledge/entries"


class Body:
    """A file's bytes as a connector's fetch streams them, counting what was read (no HTTP here: the
    Haiilo tests show the download itself)."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self.data, self.chunk, self.fetches, self.read = data, chunk, 0, 0

    def fetch(self) -> Iterator[bytes]:
        self.fetches += 1
        for start in range(0, len(self.data), self.chunk):
            self.read += self.chunk
            yield self.data[start : start + self.chunk]


def record(external_id: str, *files: RecordFile, title: str = "Policy") -> Record:
    return Record(external_id=external_id, title=title, content="text", files=files)


def a_file(body: Body, version: str = "v1", name: str = "policy.pdf", size: int | None = None) -> RecordFile:
    return RecordFile(name=name, content_type="application/pdf", version=version, size=size, fetch=body.fetch)


def pull_write(integration: Integration, records: list[Record], deletions: list[Deletion] = ()) -> JobLog:
    """What the pull engine does with a batch: its entries, then their files."""
    log = JobLog()
    if records:
        entries_upsert(integration=integration, records=records)
    if deletions:
        entries_tombstone(integration=integration, deletions=list(deletions))
    entry_files_write(integration=integration, records=records, deletions=list(deletions), log=log)
    return log


@pytest.fixture
def source(org) -> Integration:
    return Integration.objects.create(organisation=org, type="notes", name="Files")


def test_a_file_is_stored_once_per_version_and_a_new_version_replaces_it(source):
    body = Body(b"%PDF one" * 300)
    pull_write(source, [record("a", a_file(body))])
    [row] = EntryFile.objects.all()
    assert (row.name, row.content_type, row.size, row.version) == ("policy.pdf", "application/pdf", 2400, "v1")
    assert default_storage.open(row.file.name).read() == body.data
    pull_write(source, [record("a", a_file(body), title="Policy, edited")])
    assert body.fetches == 1 and list(EntryFile.objects.values_list("id", flat=True)) == [row.id]

    pull_write(source, [record("a", a_file(Body(b"two"), version="v2"))])
    [newer] = EntryFile.objects.all()
    assert newer.version == "v2" and default_storage.open(newer.file.name).read() == b"two"
    assert not default_storage.exists(row.file.name)
    # A record without files (download switched off, the attachment removed upstream): none left.
    pull_write(source, [record("a")])
    assert not EntryFile.objects.exists() and not default_storage.exists(newer.file.name)


def test_a_batch_without_files_costs_one_query_until_the_integration_holds_a_file(source):
    records = [record(f"r{n}") for n in range(50)]
    entries_upsert(integration=source, records=records)
    with CaptureQueriesContext(connection) as queries:
        entry_files_write(integration=source, records=records, deletions=[Deletion("r1")], log=JobLog())
    # One EXISTS on the integration's files, not a read of the batch's 50 ids joined to their entries.
    [query] = queries
    assert "entryfile" in query["sql"].lower() and "'r49'" not in query["sql"]

    pull_write(source, [record("r0", a_file(Body(b"one")))])
    # Now it holds one: a batch without files reads the stored ones (r0's is removed).
    with CaptureQueriesContext(connection) as queries:
        entry_files_write(integration=source, records=records, deletions=[], log=JobLog())
    assert len(queries) > 1 and not EntryFile.objects.exists()


def test_the_upstreams_name_never_reaches_the_path_and_is_cleaned_for_the_column(source):
    pull_write(source, [record("a", a_file(Body(b"x"), name="../../etc/pass\x00wd"))])
    [row] = EntryFile.objects.all()
    assert row.name == "passwd"
    assert "etc" not in row.file.name and "passwd" not in row.file.name and ".." not in row.file.name
    assert row.file.name.startswith(f"entry-files/{source.organisation_id}/")


def test_a_file_over_the_cap_is_skipped_logged_and_read_only_up_to_the_cap(source, settings):
    settings.ATTACHMENT_MAX_BYTES = 5000
    declared, streamed = Body(b"d" * 10), Body(b"s" * 1_000_000)
    log = pull_write(
        source,
        [
            record("declared", a_file(declared, size=5001)),
            record("streamed", a_file(streamed, size=10)),
            record("fits", a_file(Body(b"f" * 5000))),
        ],
    )
    assert list(EntryFile.objects.values_list("entry__external_id", flat=True)) == ["fits"]
    assert declared.fetches == 0  # the declared size was enough
    assert streamed.read <= 6000  # stopped at the cap, not read to the end
    lines = {line["external_id"]: line["message"] for line in log.lines}
    assert set(lines) == {"declared", "streamed"} and all("ATTACHMENT_MAX_BYTES" in m for m in lines.values())


def test_a_tombstone_keeps_no_files(source):
    pull_write(source, [record("a", a_file(Body(b"bytes")))])
    name = EntryFile.objects.get().file.name
    pull_write(source, [], [Deletion("a")])
    assert not EntryFile.objects.exists() and not default_storage.exists(name)


@pytest.mark.parametrize("what", ["entry", "integration", "organisation"])
def test_deleting_an_entry_its_integration_or_organisation_removes_the_stored_bytes(make_org, what):
    org = make_org("Doomed")
    integration = Integration.objects.create(organisation=org, type="notes", name="Files")
    pull_write(integration, [record("a", a_file(Body(b"one"))), record("b", a_file(Body(b"two")))])
    names = list(EntryFile.objects.values_list("file", flat=True))
    assert len(names) == 2 and all(default_storage.exists(name) for name in names)
    if what == "entry":
        KnowledgeEntry.objects.filter(integration=integration).delete()
    elif what == "integration":
        integration_delete(integration=integration)
    else:
        organisation_delete(organisation=org)
    assert not EntryFile.objects.exists()
    assert not any(default_storage.exists(name) for name in names)


def test_destinations_receive_the_files_of_a_batch_read_in_one_query(source):
    pull_write(
        source,
        [
            record(
                "a", a_file(Body(b"A1"), version="1", name="a1.pdf"), a_file(Body(b"A2"), version="2", name="a2.pdf")
            ),
            record("b"),
        ],
    )
    ids = list(KnowledgeEntry.objects.order_by("external_id").values_list("id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        snapshots = entry_file_snapshots(ids)
    assert len(queries) == 1
    assert list(snapshots) == [str(ids[0])]
    assert [(f.name, f.content_type, f.size) for f in snapshots[str(ids[0])]] == [
        ("a1.pdf", "application/pdf", 2),
        ("a2.pdf", "application/pdf", 2),
    ]
    with snapshots[str(ids[0])][1].open() as handle:
        assert handle.read() == b"A2"
    # The push engine's batch read hands them over with each entry.
    destination = Integration.objects.create(organisation=source.organisation, type="shelf", name="Out")
    snapshots, _ = _batch_read(destination, ids, with_files=True)
    batch = {snapshot.external_id: snapshot for snapshot in snapshots}
    assert [f.name for f in batch["a"].files] == ["a1.pdf", "a2.pdf"] and batch["b"].files == ()


def test_a_member_sees_an_entrys_files_and_downloads_them_as_attachments(org, make_member, client_for, source):
    pull_write(source, [record("a", a_file(Body(b"<script>alert(1)</script>"), name='re"port.html'))])
    entry, row = KnowledgeEntry.objects.get(), EntryFile.objects.get()
    row.content_type = "text/html"
    row.save()
    client = client_for(make_member(org, Role.MEMBER))
    detail = client.get(f"{URL}/{entry.id}").json()
    [listed] = detail["files"]
    assert listed == {
        "id": str(row.id),
        "name": 're"port.html',
        "content_type": "text/html",
        "size": 25,
        "url": f"http://testserver{URL}/{entry.id}/files/{row.id}",
    }
    response = client.get(listed["url"], HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    assert response["Content-Type"] == "text/html"
    assert response["Content-Disposition"] == 'attachment; filename="re\\"port.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_another_organisations_file_or_another_entrys_is_a_404_in_the_envelope(
    org, make_org, make_member, client_for, source
):
    pull_write(source, [record("a", a_file(Body(b"mine"))), record("b")])
    entry_a = KnowledgeEntry.objects.get(external_id="a")
    entry_b = KnowledgeEntry.objects.get(external_id="b")
    row = EntryFile.objects.get()
    other = make_org("Other")
    outsider = client_for(make_member(other, Role.ADMIN))
    for client, path in [
        (outsider, f"{URL}/{entry_a.id}/files/{row.id}"),
        (client_for(make_member(org, Role.MEMBER)), f"{URL}/{entry_b.id}/files/{row.id}"),
    ]:
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert client_for(make_member(org, Role.MEMBER)).get(f"{URL}/{entry_a.id}/files/{row.id}").status_code == 200


def served(url: str, headers: dict[str, str]) -> schemathesis.Response:
    """Django's answer (streamed or not) as the HTTP response schemathesis validates."""
    answer = Client().get(url, headers=headers)
    body = b"".join(answer.streaming_content) if answer.streaming else answer.content
    request = requests.Request(method="GET", url=f"http://testserver{url}", headers=headers).prepare()
    return schemathesis.Response(
        status_code=answer.status_code,
        headers={name: [value] for name, value in answer.headers.items()},
        content=body,
        request=request,
        elapsed=0.0,
        verify=False,
    )


def test_the_download_and_the_entrys_files_are_answered_as_the_schema_describes(org, make_member, source):
    """Real answers (a PDF's bytes, an entry with files, a 404) checked against /api/schema/ by schemathesis."""
    pull_write(source, [record("a", a_file(Body(b"%PDF-1.7 bytes")))])
    entry, row = KnowledgeEntry.objects.get(), EntryFile.objects.get()
    document = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    openapi = schemathesis.openapi.from_dict(document)
    download = "/api/v1/knowledge/entries/{entry_id}/files/{file_id}"
    assert document["paths"][download]["get"]["responses"]["200"]["content"] == {
        "*/*": {"schema": {"type": "string", "format": "binary"}}
    }
    headers = {"Authorization": f"Bearer {tokens_for(make_member(org, Role.MEMBER))['access']}"}
    answers = [
        ("/api/v1/knowledge/entries/{entry_id}", f"{URL}/{entry.id}", 200),
        (download, f"{URL}/{entry.id}/files/{row.id}", 200),
        (download, f"{URL}/{entry.id}/files/{uuid.uuid4()}", 404),
    ]
    for template, url, status in answers:
        response = served(url, headers)
        assert response.status_code == status
        assert_as_described(document, openapi, template, response)
