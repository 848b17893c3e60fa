"""The pure helpers the sync benches share (bench/sync_limit.py): slices, ratios, the table (no timing)."""

from types import SimpleNamespace

from bench.sync_limit import Measured, Row, limit_lines, limit_report, ratio_line, slices_summary, spread_lines, table


def test_slices_summary_names_the_slowest_and_sums_all():
    assert slices_summary({"page": 0.5, "blog-article": 2.0, "user": 1.0}) == ("blog-article", 2.0, 3.5)


def test_ratio_line_prints_the_value_and_its_goal():
    assert ratio_line("sync / raw limit", 0.8349, ">= 0.8") == "sync / raw limit: 0.83 (goal >= 0.8)"


def test_table_prints_rates_per_item_and_per_entry_and_leaves_out_what_a_row_lacks():
    header, raw, mapping, wall = table(
        "pages",
        [
            Row("raw limit", 1000, 0.5, created=900, rss_mb=99.25),
            Row("mapping alone", 1000, 0.25),
            Row("sync (wall)", 1000, 2.0, items_shown=False),
        ],
    )
    assert header.split() == ["pages", "created", "seconds", "pages/s", "entries/s", "peak", "RSS", "MB"]
    assert raw.split() == ["raw", "limit", "1000", "900", "0.50", "2000", "1800", "99.2"]
    assert mapping.split() == ["mapping", "alone", "1000", "0.25", "4000"]
    assert wall.split() == ["sync", "(wall)", "2.00", "500"]


def test_limit_lines_compare_the_sync_with_the_limit_and_its_wall_time_with_the_slowest_slice():
    lines = limit_lines(sync_rate=4000, raw_rate=5000, mapping_rate=10000, slices={"A": 1.0, "B": 2.0}, wall=2.5,
                        rss_mb=150.0, rss_idle_mb=100.0)  # fmt: skip
    assert lines[0] == "sync / raw limit: 0.80 (goal >= 0.8; limit = the faster raw run)"
    assert lines[1].startswith("mapping alone / raw limit: 2.00")
    assert lines[2] == "slice fetch alone (s): A 1.00, B 2.00"
    assert lines[3] == "slowest slice B 2.00 s, sum of slices 3.00 s, sync wall 2.50 s"
    assert lines[4] == "sync wall / slowest slice: 1.25 (goal <= 1.3, with latency)"
    assert lines[5] == "worker peak RSS: 150.0 MB (idle 100.0 MB; target < 250 MB)"


def test_limit_report_takes_the_faster_raw_run_as_the_limit_and_counts_every_item_fetched():
    raw = {"items": 1000, "rows": 900, "peak_rss_mb": 90.0}
    cpu = {"workers": 1.0, "machine": 2.0}
    measured = Measured(
        before={**raw, "seconds": 1.0, "cpu_seconds": 0.7},
        alone={"items": 1000, "mapping_seconds": 0.5, "slices": {"A": 0.25}},
        full={"job": SimpleNamespace(entries_created=900), "seconds": 1.0, "wall": 1.25, "cpu": cpu},
        after={**raw, "seconds": 0.8, "cpu_seconds": 0.6},
        rss_idle_mb=100.0,
        rss_mb=120.0,
        then=None,
    )
    lines = limit_report("pages", measured, "(a note)")
    assert [line.split()[0] for line in lines[1:6]] == ["raw", "raw", "mapping", "sync", "sync"]
    assert lines[4].split()[-6:] == ["1000", "900", "1.00", "1000", "900", "120.0"]
    assert lines[6:8] == ["(a note)", ""]
    assert lines[8] == "sync / raw limit: 0.80 (goal >= 0.8; limit = the faster raw run)"
    assert lines[12] == "sync wall / slowest slice: 5.00 (goal <= 1.3, with latency)"
    # The CPU beside the wall time: how much of it each spent computing, the rest waiting.
    assert lines[14].startswith("cores busy during the sync: the worker 0.80, the whole machine 1.60")
    assert lines[15].startswith("CPU seconds: the sync's worker 1.00, the raw limit's process 0.60")


def test_spread_lines_compare_the_spread_sync_with_one_worker_and_its_wall_with_the_slowest_slice():
    cpu = {"workers": 1.5, "machine": 3.0}
    one = {"job": SimpleNamespace(records_synced=1000), "seconds": 2.0, "wall": 2.0, "cpu": cpu}
    spread = {"job": SimpleNamespace(records_synced=1000), "seconds": 1.0, "wall": 1.5, "parts": 2,
              "rss": [120.0, 110.5], "cpu": cpu}  # fmt: skip
    measured = Measured(before={}, alone={"slices": {"A": 0.5}}, full=one, after={}, rss_idle_mb=0, rss_mb=0, then=0)
    lines = spread_lines("pages", 2, measured, spread)
    assert lines[0] == (
        "spread over 2 workers (RUN_SLICE_TASKS=2; 2 took part): 1.00 s job time, 1000 pages/s; "
        "one worker 2.00 s, 500 pages/s"
    )
    assert lines[1:4] == [
        "2 workers / one worker: 2.00 (goal >= 1.5)",
        "spread workers' peak RSS (MB): 120.0, 110.5",
        "spread wall / slowest slice: 3.00 (goal <= 1.3, with latency)",
    ]
    assert lines[4].startswith("cores busy during the sync, one worker: workers 0.75, the whole machine 1.50")
    assert lines[5].startswith("cores busy during the sync, 2 workers: workers 1.00, the whole machine 2.00")
