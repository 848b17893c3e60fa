"""Haiilo syncs run by a real Celery worker against the fake Haiilo over real HTTP."""

from __future__ import annotations

import pytest
from django.conf import settings

from integrations.models import Integration, KnowledgeEntry
from tests.connectors.haiilo.conftest import create_integration, run_sync, start_ids
from tests.fakes.haiilo import TYPES, Fault

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The generated tenant's rules (tests/fakes/haiilo.py, render_generated): which numbers are not public.
GENERATED_SKIPS = {
    "user": (50, 49),
    "blog-article": (20, 19),
    "page": (10, 9),
    "workspace": (10, 9),
    "timeline-item": (25, 24),
}


def generated_is_skipped(entity_type: str, number: int) -> bool:
    rule = GENERATED_SKIPS.get(entity_type)
    return rule is not None and number % rule[0] == rule[1]


def expected_live(tenant) -> set[str]:
    return {
        f"{t}:{i}"
        for (t, i), event in tenant.latest.items()
        if event.event_type != "DELETE" and not generated_is_skipped(t, event.number)
    }


def live_entries(integration_id: str) -> dict[str, KnowledgeEntry]:
    entries = KnowledgeEntry.objects.filter(integration_id=integration_id, deleted_at__isnull=True)
    return {entry.external_id: entry for entry in entries}


def test_full_sync_imports_every_public_entity_once_and_fills_the_counters(celery_worker_process, admin_client, haiilo):
    haiilo.tenant.generate(1200, update_share=0)
    integration_id = create_integration(admin_client, haiilo, page_size=150)
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed", job
    events = [e for stream in haiilo.tenant.events.values() for e in stream]
    skipped = sum(generated_is_skipped(e.entity_type, e.number) for e in events)
    assert skipped > 0
    assert job["records_synced"] == job["records_found"] == 1200
    assert job["records_skipped"] == skipped
    assert job["records_imported"] == job["entries_created"] == 1200 - skipped
    assert job["threads_grouped"] == 0 and job["error_message"] is None
    assert set(live_entries(integration_id)) == expected_live(haiilo.tenant)
    assert KnowledgeEntry.objects.filter(integration_id=integration_id).count() == 1200 - skipped
    assert any("Skipped" in line["message"] and "status DRAFT" in line["message"] for line in job["log"])
    assert haiilo.tenant.token_requests == 1  # one token for the whole sync, cached between requests


def test_second_sync_fetches_nothing_old_and_a_third_only_the_changes(celery_worker_process, admin_client, haiilo):
    tenant = haiilo.tenant
    tenant.generate(600, update_share=0)
    integration_id = create_integration(admin_client, haiilo, page_size=100)
    assert run_sync(admin_client, integration_id)["status"] == "completed"
    cursors = Integration.objects.get(id=integration_id).sync_checkpoint["cursors"]
    assert set(cursors) == set(TYPES)
    mark = len(haiilo.api_requests())
    second = run_sync(admin_client, integration_id)
    assert (second["status"], second["records_synced"], second["entries_created"]) == ("completed", 0, 0)
    requests = haiilo.api_requests()[mark:]
    assert len(requests) == 2 * len(TYPES)  # one short page per stream: nothing old comes back
    for entity_type in TYPES:
        assert start_ids(requests, f"/events/{entity_type}") == [cursors[entity_type]["events"]]

    article = tenant.generated_ids("blog-article")[0]
    tenant.update("blog-article", article, title={"en": "Travel policy 2027"})
    new_page = tenant.create(
        "page",
        name={"en": "Sustainability"},
        description={"en": "<p>Our goals.</p>"},
        visibility="PUBLIC",
        defaultLanguage="en",
    )
    mark = len(haiilo.api_requests())
    third = run_sync(admin_client, integration_id)
    assert third["status"] == "completed"
    assert (third["records_synced"], third["entries_created"], third["records_imported"]) == (2, 1, 2)
    assert len(haiilo.api_requests()[mark:]) == 2 * len(TYPES)
    entries = live_entries(integration_id)
    assert entries[f"blog-article:{article}"].title == "Travel policy 2027"
    assert entries[f"page:{new_page}"].content == "Our goals."


def test_an_interrupted_sync_resumes_where_it_stopped_without_duplicates_or_gaps(
    celery_worker_process, admin_client, haiilo
):
    tenant = haiilo.tenant
    tenant.generate(1500, update_share=0)
    integration_id = create_integration(admin_client, haiilo, page_size=100)
    # The third blog-article page is refused (403 is not retried): the job stops there.
    tenant.faults.append(Fault(count=1, status=403, entity_type="blog-article", after=3))
    first = run_sync(admin_client, integration_id)
    assert first["status"] == "failed"
    assert "'blog-article'" in first["error_message"] and "HTTP 403" in first["error_message"]
    # The types are pulled at once, each with its own cursor: blog-article's stopped part-way.
    stored = Integration.objects.get(id=integration_id).sync_checkpoint["cursors"]
    assert stored["blog-article"]["events"] > 0
    written = KnowledgeEntry.objects.filter(integration_id=integration_id).count()
    assert 0 < written < len(expected_live(tenant))

    mark = len(haiilo.api_requests())
    second = run_sync(admin_client, integration_id)
    assert second["status"] == "completed", second
    requests = haiilo.api_requests()[mark:]
    # Each type resumes at its own stored cursor (a type with none starts at 0).
    for entity_type in TYPES:
        resumed_at = stored.get(entity_type, {}).get("events", 0)
        assert start_ids(requests, f"/events/{entity_type}")[0] == resumed_at, entity_type
    assert start_ids(requests, "/events/blog-article")[0] == stored["blog-article"]["events"]
    assert first["progress"]["records_synced"] + second["records_synced"] == 1500
    assert set(live_entries(integration_id)) == expected_live(tenant)
    assert KnowledgeEntry.objects.filter(integration_id=integration_id).count() == len(expected_live(tenant))


def test_deletions_become_tombstones_counted_in_the_job(celery_worker_process, admin_client, haiilo):
    tenant = haiilo.tenant
    ids = [
        tenant.create(
            "blog-article",
            title={"en": f"Article {n}"},
            textContent={"en": f"<p>Body {n}</p>"},
            status="PUBLISHED",
            visibility="PUBLIC",
            defaultLanguage="en",
        )
        for n in range(4)
    ]
    integration_id = create_integration(admin_client, haiilo)
    assert run_sync(admin_client, integration_id)["entries_created"] == 4
    tenant.update("blog-article", ids[1], title={"en": "Edited before it was deleted"})
    tenant.delete("blog-article", ids[0])
    tenant.delete("blog-article", ids[1])
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed" and job["progress"]["entries_deleted"] == 2  # each counted once
    assert (job["records_synced"], job["records_skipped"]) == (1, 1)  # the stale update did not revive it
    tombstones = KnowledgeEntry.objects.filter(integration_id=integration_id, deleted_at__isnull=False)
    assert sorted(tombstones.values_list("external_id", flat=True)) == sorted(f"blog-article:{i}" for i in ids[:2])
    assert set(live_entries(integration_id)) == {f"blog-article:{i}" for i in ids[2:]}


def test_the_newest_state_of_an_entity_wins(celery_worker_process, admin_client, haiilo):
    tenant = haiilo.tenant
    article = dict(status="PUBLISHED", visibility="PUBLIC", defaultLanguage="en")
    edited = tenant.create("blog-article", title={"en": "v1"}, textContent={"en": "one"}, **article)
    tenant.update("blog-article", edited, title={"en": "v2"})
    tenant.update("blog-article", edited, title={"en": "v3"}, textContent={"en": "three"})
    restored = tenant.create("blog-article", title={"en": "Restored"}, textContent={"en": "back"}, **article)
    tenant.delete("blog-article", restored)
    tenant.create("blog-article", entity_id=restored, title={"en": "Restored"}, textContent={"en": "back"}, **article)
    gone = tenant.create("blog-article", title={"en": "Gone"}, textContent={"en": "bye"}, **article)
    tenant.update("blog-article", gone, title={"en": "Gone 2"})
    tenant.delete("blog-article", gone)
    withdrawn = tenant.create("blog-article", title={"en": "Withdrawn"}, textContent={"en": "x"}, **article)
    integration_id = create_integration(admin_client, haiilo)
    assert run_sync(admin_client, integration_id)["status"] == "completed"
    tenant.update("blog-article", withdrawn, status="DRAFT")
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed" and job["records_skipped"] == 1
    entries = live_entries(integration_id)
    assert set(entries) == {f"blog-article:{edited}", f"blog-article:{restored}"}
    assert (entries[f"blog-article:{edited}"].title, entries[f"blog-article:{edited}"].content) == ("v3", "three")
    assert KnowledgeEntry.objects.get(external_id=f"blog-article:{withdrawn}").deleted_at is not None
    assert not KnowledgeEntry.objects.filter(external_id=f"blog-article:{gone}", deleted_at__isnull=True).exists()


def test_a_token_that_expires_in_the_middle_of_a_sync_is_renewed_once(celery_worker_process, admin_client, haiilo):
    haiilo.tenant.generate(500, update_share=0)
    integration_id = create_integration(admin_client, haiilo, page_size=50)
    haiilo.tenant.revoke_tokens_after = 4
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed" and job["records_synced"] == 500
    assert haiilo.tenant.token_requests == 2
    # The slices' requests in flight when the token was revoked are refused together, and repeated
    # with the one new token.
    assert 1 <= [status for _, _, status in haiilo.tenant.requests].count(401) <= settings.RUN_MAX_CONCURRENT_SLICES


@pytest.mark.parametrize(
    "fault",
    [
        Fault(count=2, status=429, headers={"Retry-After": "1"}, entity_type="file"),
        Fault(count=2, status=500, entity_type="file"),
        Fault(count=2, status=503, entity_type="file"),
        Fault(count=2, drop=True, entity_type="file"),
    ],
    ids=["429-retry-after", "500", "503", "dropped-connection"],
)
def test_transient_faults_are_retried_and_the_sync_completes(celery_worker_process, admin_client, haiilo, fault):
    haiilo.tenant.generate(300, update_share=0)
    integration_id = create_integration(admin_client, haiilo, page_size=100)
    haiilo.tenant.faults.append(fault)
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed", job
    assert job["records_synced"] == 300
    assert set(live_entries(integration_id)) == expected_live(haiilo.tenant)
    assert fault.count == 0  # both faults were served, and retried past


def test_slow_responses_within_the_timeout_still_complete(celery_worker_process, admin_client, haiilo):
    haiilo.tenant.generate(100, update_share=0)
    haiilo.tenant.delay = 0.3
    integration_id = create_integration(admin_client, haiilo, page_size=100)
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed" and job["records_synced"] == 100


def test_multilingual_content_lands_in_its_default_language_with_the_others_kept(
    celery_worker_process, admin_client, haiilo
):
    tenant = haiilo.tenant
    german = tenant.create(
        "blog-article",
        defaultLanguage="de",
        status="PUBLISHED",
        visibility="PUBLIC",
        title={"en": "Welcome", "de": "Willkommen"},
        textContent={"en": "<p>Hello &amp; welcome</p>", "de": "<p>Hallo &amp; willkommen</p>"},
    )
    fallback = tenant.create(
        "page",
        defaultLanguage="fr",
        visibility="PUBLIC",
        name={"en": "Canteen", "de": "Kantine"},
        description={"de": "<p>Speiseplan</p>"},
    )
    integration_id = create_integration(admin_client, haiilo, entity_types="blog-article,page")
    assert run_sync(admin_client, integration_id)["status"] == "completed"
    entries = live_entries(integration_id)
    article = entries[f"blog-article:{german}"]
    assert (article.title, article.content, article.language) == ("Willkommen", "Hallo & willkommen", "de")
    assert article.metadata["translations"] == {"en": {"title": "Welcome", "text": "Hello & welcome"}}
    page = entries[f"page:{fallback}"]
    assert (page.title, page.content) == ("Canteen", "Speiseplan")  # no French: English title, the only text
    assert page.metadata["translations"] == {"de": {"title": "Kantine"}}


def test_a_rate_limit_that_outlasts_the_retries_puts_the_job_back_and_it_resumes_at_its_cursor(
    celery_worker_process, admin_client, haiilo
):
    tenant = haiilo.tenant
    tenant.generate(400, update_share=0)
    integration_id = create_integration(admin_client, haiilo, page_size=100)
    # Four 429s use up the HTTP layer's attempts on the first `file` request; Celery retries the job.
    tenant.faults.append(Fault(count=4, status=429, headers={"Retry-After": "1"}, entity_type="file"))
    job = run_sync(admin_client, integration_id)
    assert job["status"] == "completed", job
    assert any("'file'" in line["message"] and "Retrying in 1 s" in line["message"] for line in job["log"])
    # The retry resumed at the stored cursors: the types before `file` were not fetched again.
    user_cursor = Integration.objects.get(id=integration_id).sync_checkpoint["cursors"]["user"]["events"]
    assert start_ids(haiilo.api_requests(), "/events/user") == [0, user_cursor]
    assert job["records_synced"] == 400  # both attempts' counts, each event once
    assert set(live_entries(integration_id)) == expected_live(tenant)
