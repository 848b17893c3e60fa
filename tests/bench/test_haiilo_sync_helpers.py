"""The pure helpers of bench/haiilo_sync.py: raw fields (no timing)."""

from bench.haiilo_sync import TEXT_FIELDS, TITLE_FIELDS, raw_field


def test_raw_field_takes_the_first_present_field_and_the_first_language_unmapped():
    event = {"name": {"de": "Titel", "en": "Title"}, "description": "<p>Body &amp; more</p>"}
    assert raw_field(event, TITLE_FIELDS) == "Titel"
    assert raw_field(event, TEXT_FIELDS) == "<p>Body &amp; more</p>"
    assert raw_field({}, TITLE_FIELDS) == ""
