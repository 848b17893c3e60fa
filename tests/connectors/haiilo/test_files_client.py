"""The file download's client, in process over real HTTP: the SSRF guard holds for signed links, and a
file's bytes can still be fetched after the pull that yielded it has ended."""

from __future__ import annotations

import pytest

from connectors.base import Record
from connectors.errors import UnsafeUpstreamURL
from connectors.haiilo.connector import HaiiloConnector
from connectors.haiilo.files import signed_url_chunks


def test_a_signed_link_to_a_private_address_is_refused_before_any_request(haiilo, settings):
    settings.ALLOW_PRIVATE_UPSTREAMS = False
    file_id = haiilo.tenant.create_file("a.txt", b"secret", visibility="PUBLIC")
    key = haiilo.tenant.state_of("file", file_id)["currentVersionBlobReference"]
    link = haiilo.blobs.signed_url(f"{key['groupId']}/{key['uid']}")
    with pytest.raises(UnsafeUpstreamURL):
        list(signed_url_chunks(link))
    assert haiilo.blobs.requests == []


def test_a_files_bytes_are_fetched_after_the_pull_has_ended(haiilo):
    file_id = haiilo.tenant.create_file("a.txt", b"the body", content_type="text/plain", visibility="PUBLIC")
    connector = HaiiloConnector(config=HaiiloConnector.validate_config(haiilo.config(download_files=True)))
    records = [item for item in connector.pull({}) if isinstance(item, Record)]
    [record] = [r for r in records if r.external_id == f"file:{file_id}"]
    [record_file] = record.files
    assert (record_file.name, record_file.content_type, record_file.size) == ("a.txt", "text/plain", 8)
    assert b"".join(record_file.fetch()) == b"the body"
    # The pull's client was closed; the fetch used a new one with the token the pull obtained.
    assert haiilo.tenant.token_requests == 1 and haiilo.tenant.file_url_requests == 1
