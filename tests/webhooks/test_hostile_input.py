"""Signed webhooks the database cannot store as they are: 400, or stored without the bad part; never 500."""

from __future__ import annotations

import json

import pytest

from integrations.models import KnowledgeEntry
from tests.webhooks.helpers import assert_error, post_signed, post_standard, receive_path
from webhooks.views import MAX_NESTING

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "lone \\udfff surrogate"}',
        b'{"text": "high \\ud800 alone"}',
        b'{"text": "ok", "meta": {"\\udfff": 1}}',
        b'{"text": "ok", "tags": ["fine", ["\\uDFFF"]]}',
        b'{"text": "reversed pair \\udc00\\ud800"}',
    ],
    ids=["text", "high", "metadata-key", "nested-list", "reversed-pair"],
)
@pytest.mark.parametrize("scheme", ["knora", "standard"])
def test_lone_surrogate_anywhere_is_a_validation_error(webhook, raw, scheme):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    response = post_signed(path, raw, secret) if scheme == "knora" else post_standard(path, raw, secret)

    assert_error(response, 400, "VALIDATION_ERROR")
    assert not KnowledgeEntry.objects.exists()


def test_escaped_surrogate_pair_is_a_valid_character(webhook):
    response = post_signed(
        receive_path(webhook["id"]), b'{"text": "ship it \\ud83d\\ude80"}', webhook["signing_secret"]
    )

    assert response.status_code == 202, response.content
    assert KnowledgeEntry.objects.get().content == "ship it \U0001f680"
    # The knowledge API reads it back.
    assert "\U0001f680" in json.dumps(KnowledgeEntry.objects.get().content, ensure_ascii=False)


@pytest.mark.parametrize(
    "timestamp", ["9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+10:00", "not a time", "2026-13-01T00:00:00Z"]
)
def test_timestamp_the_database_cannot_hold_is_left_out(webhook, timestamp):
    body = {"text": "Deploy finished", "timestamp": timestamp}
    response = post_signed(receive_path(webhook["id"]), body, webhook["signing_secret"])

    assert response.status_code == 202, response.content
    entry = KnowledgeEntry.objects.get()
    assert entry.source_created_at is None
    assert entry.metadata["timestamp"] == timestamp


def test_timestamp_is_stored_in_utc_and_one_without_offset_is_taken_as_utc(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    aware = post_signed(path, {"text": "a", "timestamp": "2026-11-30T23:00:00-10:00"}, secret).json()
    naive = post_signed(path, {"text": "b", "timestamp": "2026-12-01T09:00:00"}, secret).json()

    assert KnowledgeEntry.objects.get(id=aware["entry_id"]).source_created_at.isoformat() == "2026-12-01T09:00:00+00:00"
    assert KnowledgeEntry.objects.get(id=naive["entry_id"]).source_created_at.isoformat() == "2026-12-01T09:00:00+00:00"


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1E999"])
def test_number_beyond_the_range_of_a_float_is_a_validation_error(webhook, number):
    raw = b'{"text": "ok", "score": ' + number + b"}"
    response = post_signed(receive_path(webhook["id"]), raw, webhook["signing_secret"])

    assert_error(response, 400, "VALIDATION_ERROR")


def nested(depth: int) -> bytes:
    """An object whose `meta` is nested so that the body is `depth` levels deep."""
    return b'{"text": "deep", "meta": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_nesting_up_to_the_limit_is_stored_and_deeper_is_a_validation_error(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]

    assert post_signed(path, nested(MAX_NESTING), secret).status_code == 202
    for depth in (MAX_NESTING + 1, 900, 990):
        assert_error(post_signed(path, nested(depth), secret), 400, "VALIDATION_ERROR")
    assert KnowledgeEntry.objects.count() == 1
