"""The content hash never changes: stored hashes decide which entries a sync rewrites, so a hash that
changed with an upgrade would rewrite every entry. `content_hash` is built piece by piece; it must give
byte for byte the hash of the JSON dump it has always hashed (`hash_as_it_was`, copied verbatim)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Record
from integrations.knowledge.clean import record_cleaned_with_json
from integrations.knowledge.writes import _HASHED_VALUES, content_hash


def hash_as_it_was(record: Record) -> str:
    """`writes.content_hash` before it was built piecewise, verbatim."""
    material = [value.isoformat() if isinstance(value, datetime) else value for value in _HASHED_VALUES(record)]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


PLUS_0530, MINUS_10 = timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-10))
# Hashes stored by releases before this one: they must stay what they are.
PINNED = [
    (
        Record("p-1", "Title", "Body text", html="<p>Body text</p>", url="https://example.com/p-1", author="Ann",
               language="en", metadata={"space": "ENG", "version": 3},
               source_created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
               source_updated_at=datetime(2024, 6, 7, 8, 9, 10, 123456, tzinfo=UTC)),
        "7d9b89c966082e9a4b4244b8a9f6f6b65944fce133560f03b1b2598dfc5fac5e",
    ),
    (
        Record("u-1", "Grüße – 東京 😀", 'Ünïcödé \u2028 "quoted" \\ back\tslash\n', html=None,
               metadata={"zß": 1.5, "ä": [True, False, None, -0.0, 1e300], "a": {"ключ": "значение", "b": {}}},
               source_created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=PLUS_0530),
               source_updated_at=datetime(2023, 12, 31, 23, 0, tzinfo=MINUS_10)),
        "d9d27c49c7608ae782989d4cb2996c6c6a5b3b1083e48615067af9baa267b7b9",
    ),
    (Record("e-1", "", ""), "347a566a318071baba43f1648a959710ca0b73a39b48926e96869ad6e00477b5"),
    (
        # Values only json.dumps's default=str can write (an uncleaned record): the old dump is used.
        Record("n-1", "T", "C",
               metadata={"when": datetime(2024, 1, 2, tzinfo=UTC), "amount": Decimal("1.10"), "nan": float("nan")}),
        "1d5a19c08854a776388b3ce7c2b90dd2144a85a27af59cc81bb8d7fd25a296e4",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "stored"), PINNED, ids=[record.external_id for record, _ in PINNED])
def test_content_hash_is_the_hash_stored_before(record, stored):
    assert hash_as_it_was(record) == stored
    assert content_hash(record) == stored


@pytest.mark.parametrize(("record", "stored"), PINNED[:3], ids=[record.external_id for record, _ in PINNED[:3]])
def test_content_hash_of_the_cleaned_metadata_text_is_the_hash_stored_before(record, stored):
    cleaned, metadata_json = record_cleaned_with_json(record)
    assert content_hash(cleaned, metadata_json) == stored


# --- generated records ------------------------------------------------------------------------------------
# Any text without lone surrogates (the cleaning replaces those), non-ASCII, controls and quotes included.
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
offsets = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=59),
                                            max_value=timedelta(hours=23, minutes=59)))  # fmt: skip
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.one_of(st.just(UTC), offsets)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and ±Infinity too: json.dumps writes them, the cleaning makes them null
    texts,
)
metadata_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
records = st.builds(
    Record,
    external_id=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1),
    title=texts,
    content=texts,
    html=st.none() | texts,
    url=texts,
    author=texts,
    language=texts,
    metadata=st.dictionaries(texts, metadata_values | aware_datetimes, max_size=6),
    source_created_at=st.none() | aware_datetimes,
    source_updated_at=st.none() | aware_datetimes,
)
GENERATED = settings(max_examples=500, derandomize=True, deadline=None, database=None)


@GENERATED
@given(records)
def test_content_hash_is_the_old_hash_of_every_generated_record(record):
    assert content_hash(record) == hash_as_it_was(record)


@GENERATED
@given(records)
def test_content_hash_of_a_cleaned_record_with_its_metadata_text_is_the_old_hash(record):
    # The writer's way: the text the cleaning wrote stands for the metadata.
    cleaned, metadata_json = record_cleaned_with_json(record)
    assert content_hash(cleaned, metadata_json) == hash_as_it_was(cleaned)
