"""Haiilo files through a real worker: the helper endpoint's pre-signed link, fetched without Haiilo's
token from another host, once per file version, capped by ATTACHMENT_MAX_BYTES."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from integrations.models import EntryFile, KnowledgeEntry
from tests.connectors.haiilo.conftest import create_integration, run_sync

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF"


def files_of(integration_id: str, entity_id: str) -> list[EntryFile]:
    entry = KnowledgeEntry.objects.get(integration_id=integration_id, external_id=f"file:{entity_id}")
    return list(entry.files.all())


def stored_bytes(row: EntryFile) -> bytes:
    with row.file.open("rb") as handle:
        return handle.read()


def test_a_file_is_downloaded_from_its_signed_link_without_haiilos_token_once_per_version(
    celery_worker_process, admin_client, haiilo
):
    tenant, blobs = haiilo.tenant, haiilo.blobs
    file_id = tenant.create_file("Travel policy.pdf", PDF, visibility="PUBLIC")
    integration_id = create_integration(admin_client, haiilo, download_files=True)
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed", job
    [row] = files_of(integration_id, file_id)
    assert (row.name, row.content_type, row.size) == ("Travel policy.pdf", "application/pdf", len(PDF))
    assert stored_bytes(row) == PDF
    assert "Travel policy" not in row.file.name  # the upstream's name is never part of the path
    # The link was on the other host, and nothing of Haiilo's credentials went there.
    assert len(blobs.requests) == 1 and tenant.file_url_requests == 1
    tokens = set(tenant.tokens)
    assert tokens
    for headers in blobs.headers_received():
        assert "authorization" not in headers and "cookie" not in headers
        assert not any(token in value for token in tokens for value in headers.values())

    # Nothing new upstream: nothing asked, nothing downloaded.
    assert run_sync(admin_client, integration_id)["status"] == "completed"
    # The entry changes, its file version does not: the entry is rewritten, the file is not downloaded again.
    tenant.update("file", file_id, description="Rules for trips, revised")
    assert run_sync(admin_client, integration_id)["records_imported"] == 1
    assert len(blobs.requests) == 1 and tenant.file_url_requests == 1
    assert [r.id for r in files_of(integration_id, file_id)] == [row.id]

    # A new version replaces the old one, whose bytes leave the storage.
    tenant.new_file_version(file_id, b"%PDF-1.7 version two")
    assert run_sync(admin_client, integration_id)["status"] == "completed"
    [newer] = files_of(integration_id, file_id)
    assert newer.id != row.id and stored_bytes(newer) == b"%PDF-1.7 version two"
    assert not default_storage.exists(row.file.name)
    assert len(blobs.requests) == 2


def test_without_download_files_no_link_is_asked_for(celery_worker_process, admin_client, haiilo):
    file_id = haiilo.tenant.create_file("notes.txt", b"plain", content_type="text/plain", visibility="PUBLIC")
    integration_id = create_integration(admin_client, haiilo)
    assert run_sync(admin_client, integration_id)["status"] == "completed"
    assert files_of(integration_id, file_id) == []
    assert haiilo.tenant.file_url_requests == 0 and haiilo.blobs.requests == []


def test_files_over_the_cap_are_skipped_and_logged_and_a_long_body_is_cut_off(
    celery_worker_process, admin_client, haiilo
):
    tenant, blobs, cap = haiilo.tenant, haiilo.blobs, settings.ATTACHMENT_MAX_BYTES
    declared = tenant.create_file("huge.iso", 10, size=cap + 1, visibility="PUBLIC")
    # This one says it is small; the body goes on far past the cap (chunked, no Content-Length).
    lying = tenant.create_file("endless.bin", 4 * cap, size=100, visibility="PUBLIC")
    small = tenant.create_file("small.txt", b"fits", content_type="text/plain", visibility="PUBLIC")
    integration_id = create_integration(admin_client, haiilo, download_files=True)
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed", job
    assert files_of(integration_id, declared) == [] and files_of(integration_id, lying) == []
    assert [stored_bytes(row) for row in files_of(integration_id, small)] == [b"fits"]
    skipped = [line for line in job["log"] if "ATTACHMENT_MAX_BYTES" in line["message"]]
    assert {line["external_id"] for line in skipped} == {f"file:{declared}", f"file:{lying}"}
    # The declared size was enough: that body was never asked for. The other stopped near the cap.
    assert len(blobs.requests) == 2
    [long_body] = [sent for sent in blobs.bytes_sent if sent > 100]
    assert cap < long_body < 2 * cap
    # The entries themselves are there, files or not.
    assert KnowledgeEntry.objects.filter(integration_id=integration_id).count() == 3


def test_an_expired_link_is_asked_for_again_once_then_the_file_is_left_out(celery_worker_process, admin_client, haiilo):
    tenant, blobs = haiilo.tenant, haiilo.blobs
    first = tenant.create_file("a.txt", b"first", content_type="text/plain", visibility="PUBLIC")
    integration_id = create_integration(admin_client, haiilo, download_files=True)
    blobs.expire_next_links = 1  # expired on arrival: the second link works
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed"
    assert [stored_bytes(row) for row in files_of(integration_id, first)] == [b"first"]
    assert tenant.file_url_requests == 2 and len(blobs.requests) == 2

    second = tenant.create_file("b.txt", b"second", content_type="text/plain", visibility="PUBLIC")
    blobs.expire_next_links = 2  # both links expired: the file is not stored, the sync goes on
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed" and job["records_imported"] == 1
    assert files_of(integration_id, second) == []
    [line] = [line for line in job["log"] if line.get("external_id") == f"file:{second}"]
    assert "b.txt" in line["message"] and "403" in line["message"]
