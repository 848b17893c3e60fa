"""The pure helpers of bench/haiilo_sync.py: raw fields, slice summary, ratio lines (no timing)."""

from bench.haiilo_sync import TEXT_FIELDS, TITLE_FIELDS, ratio_line, raw_field, slices_summary


def test_raw_field_takes_the_first_present_field_and_the_first_language_unmapped():
    event = {"name": {"de": "Titel", "en": "Title"}, "description": "<p>Body &amp; more</p>"}
    assert raw_field(event, TITLE_FIELDS) == "Titel"
    assert raw_field(event, TEXT_FIELDS) == "<p>Body &amp; more</p>"
    assert raw_field({}, TITLE_FIELDS) == ""


def test_slices_summary_names_the_slowest_and_sums_all():
    assert slices_summary({"page": 0.5, "blog-article": 2.0, "user": 1.0}) == ("blog-article", 2.0, 3.5)


def test_ratio_line_prints_the_value_and_its_goal():
    assert ratio_line("sync / raw limit", 0.8349, ">= 0.8") == "sync / raw limit: 0.83 (goal >= 0.8)"
