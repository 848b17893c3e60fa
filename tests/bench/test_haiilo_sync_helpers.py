"""The pure helpers of bench/haiilo_sync.py: the raw limit's rows (against the fake Haiilo; no timing)."""

import contextlib

from bench.haiilo_sync import premapped_pages, raw_session
from connectors.haiilo.mapping import skip_reason
from tests.fakes.haiilo import TYPES, FakeHaiilo, render_generated


def test_the_limit_writes_the_connectors_own_rows_of_each_events_page_and_leaves_out_what_it_skips():
    with FakeHaiilo() as fake:
        tenant = fake.tenant
        tenant.generate(400, update_share=0)
        spec = {"url": fake.url, "client_id": tenant.client_id, "client_secret": tenant.client_secret,
                "page_size": 100, "types": list(TYPES)}  # fmt: skip
        with contextlib.closing(raw_session(spec)) as http:
            pages = premapped_pages(http, spec)
    records = [record for page in pages.values() for record in page]
    skipped = {f"{t}:{i}" for (t, i), event in tenant.latest.items() if skip_reason(render_generated(event))}
    assert skipped and {record.external_id for record in records} == tenant.live_external_ids() - skipped
    assert len(records) == len(tenant.live_external_ids() - skipped)  # one event each: no id twice
    # Mapped as the sync maps them: text without markup, the HTML kept beside it, the metadata filled.
    articles = [record for record in records if record.external_id.startswith("blog-article:")]
    assert articles and all("<" not in r.content and r.html and r.metadata["translations"] for r in articles)
