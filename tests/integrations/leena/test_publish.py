"""Publishing to Leena through a real worker: the seed's flow, the batch rule, the ledger, cleaning."""

from __future__ import annotations

import uuid

import pytest

from connectors.base import Deletion, Record
from integrations.knowledge import entries_upsert
from integrations.knowledge.writes import entries_tombstone
from integrations.models import Integration, KnowledgeEntry, PushLedgerEntry
from tests.fakes.leena import FakeLeena, Fault
from tests.integrations.leena.conftest import destination, push_figures, records, run, source_with_entries

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
SYNC = "/api/integration/articles/sync/"


def test_a_run_follows_the_seeds_order_in_cycles_of_batch_size_with_one_token(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(250))
    published = destination(admin_client, leena, source, batch_size=100)
    leena.upstream.calls.clear()  # the token request of POST /'s credential check
    job = run(admin_client, published)
    assert leena.upstream.steps() == ["token", "sync", "complete", "sync", "complete", "sync", "complete"]
    assert [len(call.detail) for call in leena.upstream.calls if call.path == SYNC] == [100, 100, 50]
    assert len({call.token for call in leena.upstream.calls[1:]}) == 1  # one token for the whole run
    assert push_figures(job) == (250, 250, 250, 0, 250, 0)
    # Each cycle's articles were processed by its own complete/, and nothing is left pending.
    assert [len(batch) for batch in leena.upstream.completed] == [100, 100, 50] and not leena.upstream.pending
    entry = KnowledgeEntry.objects.get(external_id="doc7")
    reference_id = f"{entry.pk}$en"
    assert PushLedgerEntry.objects.get(destination_id=published, entry=entry).remote_id == reference_id
    assert leena.upstream.articles[reference_id] == {
        "name": "Page doc7",
        "html_content": "<p>Text of doc7</p>",
        "attachments": [],
    }


def test_a_second_run_with_nothing_changed_calls_leena_not_at_all_and_one_edit_sends_one_article(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(30))
    published = destination(admin_client, leena, source)
    run(admin_client, published)
    leena.upstream.calls.clear()

    assert push_figures(run(admin_client, published)) == (0, 0, 0, 30, 0, 0)
    assert leena.upstream.calls == []  # no token, no upload, no complete/

    edited = Record(external_id="doc4", title="Page doc4", content="Edited text", language="de")
    entries_upsert(integration=Integration.objects.get(pk=source), records=[edited])
    job = run(admin_client, published)
    assert leena.upstream.steps() == ["token", "sync", "complete"]
    entry = KnowledgeEntry.objects.get(external_id="doc4")
    # A language of its own makes another reference_id: a new article in Leena, counted as created.
    assert leena.upstream.calls[1].detail == [f"{entry.pk}$de"]
    assert push_figures(job) == (1, 1, 1, 29, 1, 0)
    assert leena.upstream.articles[f"{entry.pk}$de"]["html_content"] == "<p>Edited text</p>"


def test_a_tombstone_and_an_empty_entry_are_skipped_without_a_call_and_the_log_says_it_stays_in_leena(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(3))
    published = destination(admin_client, leena, source)
    run(admin_client, published)
    entry = KnowledgeEntry.objects.get(external_id="doc1")
    entries_tombstone(integration=Integration.objects.get(pk=source), deletions=[Deletion("doc1")])
    entries_upsert(integration=Integration.objects.get(pk=source), records=[Record("blank", "", "  ")])
    leena.upstream.calls.clear()

    job = run(admin_client, published)
    assert leena.upstream.calls == []
    assert push_figures(job) == (2, 2, 0, 4, 0, 0)
    skipped = {line["external_id"]: line["message"] for line in job["log"] if line["message"].startswith("Skipped")}
    assert "stays in Leena until removed there" in skipped["doc1"]
    assert "no title and no text" in skipped["blank"]
    assert f"{entry.pk}$en" in leena.upstream.articles  # Leena's API has no delete: it is still there
    # Neither is offered again.
    assert push_figures(run(admin_client, published))[:3] == (0, 0, 0)


def test_html_reaches_leena_sanitised_and_text_as_escaped_paragraphs(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    hostile = (
        '<h1 onclick="steal()">Travel</h1><script>alert(1)</script><style>h1{color:red}</style>'
        '<p>Book <a href="javascript:alert(2)">here</a> or <a href="https://travel.example/">there</a>.</p>'
    )
    source = source_with_entries(
        admin_client,
        notes,
        [
            Record("html", "Travel policy", "Travel Book here or there.", html=hostile),
            Record("text", "Plain", "Tom & Jerry <b>not bold</b>\n\nSecond paragraph"),
        ],
    )
    published = destination(admin_client, leena, source)
    run(admin_client, published)
    by_name = {article["name"]: article["html_content"] for article in leena.upstream.articles.values()}
    assert by_name["Travel policy"] == (
        '<h1>Travel</h1><p>Book <a rel="noopener noreferrer">here</a> or '
        '<a href="https://travel.example/" rel="noopener noreferrer">there</a>.</p>'
    )
    assert by_name["Plain"] == "<p>Tom &amp; Jerry &lt;b&gt;not bold&lt;/b&gt;</p><p>Second paragraph</p>"


def test_an_article_that_fails_once_is_retried_as_a_unit_after_one_second_then_the_cycle_completes(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(5))
    published = destination(admin_client, leena, source)
    leena.upstream.article_faults["Page doc2"] = Fault(status=None, times=1, message="index busy")
    leena.upstream.calls.clear()
    job = run(admin_client, published)
    assert leena.upstream.steps() == ["token", "sync", "sync", "complete"]
    retried = leena.upstream.calls[2].detail
    assert retried == [f"{KnowledgeEntry.objects.get(external_id='doc2').pk}$en"]  # the failed unit only
    assert push_figures(job) == (5, 5, 5, 0, 5, 0)
    notes_logged = [line["message"] for line in job["log"] if line["level"] == "warning"]
    assert any("retry 1 of 5 in 1 s" in line and "index busy" in line for line in notes_logged), notes_logged


def test_a_cycle_whose_article_keeps_failing_never_calls_complete_the_job_fails_naming_it_and_the_next_run_resends(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(6))
    published = destination(admin_client, leena, source, batch_size=3)
    # 429 with Retry-After: 0 on every sending of doc4's cycle: Retry-After wins over 1,2,4,8,16 s.
    leena.upstream.article_faults["Page doc4"] = Fault(status=429, retry_after="0", message="slow down")
    leena.upstream.calls.clear()
    job = run(admin_client, published, status="failed")
    doc4 = f"{KnowledgeEntry.objects.get(external_id='doc4').pk}$en"
    syncs = [call.detail for call in leena.upstream.calls if call.path == SYNC]
    failing_cycle = next(refs for refs in syncs if doc4 in refs and len(refs) == 3)
    other_cycle = next(refs for refs in syncs if doc4 not in refs and len(refs) == 3)
    # The other cycle completes; doc4's is sent together, its two good units and doc4 once more each,
    # then doc4 four more times: five retries in all, and never a complete/ for it.
    other_at = next(n for n, call in enumerate(leena.upstream.calls) if call.detail == other_cycle)
    assert leena.upstream.steps()[other_at + 1] == "complete"
    assert leena.upstream.steps().count("complete") == 1
    assert sorted(len(refs) for refs in syncs) == [1] * 7 + [3, 3]
    assert [refs for refs in syncs if refs == [doc4]] == [[doc4]] * 5
    external = dict(KnowledgeEntry.objects.values_list("pk", "external_id"))
    companions = sorted(external[uuid.UUID(ref.split("$")[0])] for ref in failing_cycle if ref != doc4)
    assert job["error_message"].startswith("3 entries failed: ")
    said = f"Leena AI: POST {leena.url}/api/integration/articles/sync/ returned 429: rate limit reached."
    assert f"doc4: Leena did not take article {doc4}: {said}" in job["error_message"]
    for companion in companions:
        assert f"{companion}: its cycle did not complete: 1 article(s) failed after 5 retries" in job["error_message"]
    accepted = PushLedgerEntry.objects.filter(destination_id=published, accepted_at__isnull=False)
    assert len(accepted) == 3 and "doc4" not in accepted.values_list("entry__external_id", flat=True)

    leena.upstream.article_faults.clear()
    leena.upstream.calls.clear()
    again = run(admin_client, published)
    assert leena.upstream.steps() == ["token", "sync", "complete"]
    assert sorted(leena.upstream.calls[1].detail) == sorted(failing_cycle)
    assert push_figures(again) == (3, 3, 3, 3, 3, 0)


def test_a_token_that_expires_in_the_middle_of_a_run_is_replaced_once_and_the_refused_call_repeated(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(150))
    published = destination(admin_client, leena, source, batch_size=100)
    leena.upstream.calls.clear()
    leena.upstream.expire_token_after_calls = 2  # the first cycle's complete/ gets 401
    job = run(admin_client, published)
    assert leena.upstream.steps() == ["token", "sync", "complete", "token", "complete", "sync", "complete"]
    tokens = [call.token for call in leena.upstream.calls if call.token]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3] == tokens[4]
    assert push_figures(job) == (150, 150, 150, 0, 150, 0)
    assert [len(batch) for batch in leena.upstream.completed] == [100, 50]
