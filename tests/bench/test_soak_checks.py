"""The soak bench's checks (bench/soak_checks.py) see a delivery missing or stored twice, a run's
entries or articles that differ from the fake's, and worker memory that grew: each on a small real
database state that the receive endpoint and the knowledge write path made."""

from __future__ import annotations

import pytest

from bench.soak_checks import (
    Accepted,
    deliveries_failures,
    haiilo_failures,
    keys_failures,
    leena_failures,
    rss_failures,
    run_failures,
)
from bench.webhook_receive import signed_calls
from connectors.base import Record
from integrations.knowledge import entries_upsert
from integrations.models import JobStatus, KnowledgeEntry, SyncJob
from integrations.services import integration_create
from tests.webhooks.helpers import post_signed, receive_path
from webhooks.models import WebhookDelivery
from webhooks.services import delivery_key_of_unsigned

pytestmark = pytest.mark.django_db


@pytest.fixture
def organisation(make_org):
    return make_org()


@pytest.fixture
def delivered(organisation) -> tuple[str, list[Accepted]]:
    """Three deliveries accepted by the real receive endpoint, as the bench sends them."""
    integration, shown_once = integration_create(
        organisation=organisation, user=None, type="webhook", name="soak", config={}
    )
    accepted = []
    for call in signed_calls(receive_path(integration.pk), shown_once["signing_secret"], 3, "t", keyed=True):
        response = post_signed(call.path, call.body, None, headers=call.headers)
        assert response.status_code == 202, response.content
        accepted.append(Accepted(call.headers["webhook-id"], call.body, response.json()["entry_id"]))
    return str(integration.pk), accepted


def test_deliveries_stored_once_pass(delivered):
    assert deliveries_failures(*delivered) == []


def test_a_delivery_without_its_entry_fails(delivered):
    integration_id, accepted = delivered
    KnowledgeEntry.objects.filter(pk=accepted[1].entry_id).delete()

    failures = deliveries_failures(integration_id, accepted)

    assert any("1 accepted deliveries have no entry" in failure for failure in failures), failures


def test_a_delivery_without_its_row_fails(delivered):
    integration_id, accepted = delivered
    WebhookDelivery.objects.filter(idempotency_key=delivery_key_of_unsigned(accepted[0].key)).delete()

    failures = deliveries_failures(integration_id, accepted)

    assert any("1 accepted deliveries have no delivery row" in failure for failure in failures), failures


def test_a_delivery_stored_twice_fails(delivered):
    """The same delivery kept a second time (under another key, as a receiver without idempotency would)."""
    integration_id, accepted = delivered
    first = KnowledgeEntry.objects.get(pk=accepted[0].entry_id)
    second = KnowledgeEntry.objects.create(
        organisation=first.organisation,
        integration=first.integration,
        external_id="sha256:again",
        title=first.title,
        content=first.content,
        content_hash=first.content_hash,
    )
    WebhookDelivery.objects.create(integration_id=integration_id, idempotency_key="again", entry=first, accepted=True)

    failures = deliveries_failures(integration_id, accepted)

    assert any(f"1 entries no accepted delivery made, e.g. {second.external_id}" in f for f in failures), failures
    assert any("4 delivery rows for 3 accepted deliveries" in f for f in failures), failures
    assert any("1 entries are the entry of more than one delivery row" in f for f in failures), failures


def test_keys_missing_extra_or_doubled_fail():
    assert keys_failures("Haiilo", ["a", "b"], {"a", "b"}) == []
    assert keys_failures("Haiilo", ["a"], {"a", "b"}) == ["Haiilo: 1 of 2 expected keys missing, e.g. b"]
    assert keys_failures("Haiilo", ["a", "b", "c"], {"a", "b"}) == ["Haiilo: 1 keys not expected, e.g. c"]
    assert keys_failures("Haiilo", ["a", "a", "b"], {"a", "b"}) == ["Haiilo: 1 keys stored more than once, e.g. a"]


@pytest.fixture
def source(organisation):
    integration, _ = integration_create(organisation=organisation, user=None, type="webhook", name="kb", config={})
    records = [
        Record(external_id=f"doc-{n}", title=f"Doc {n}", content=f"Text {n}", html=f"<p>Text {n}</p>") for n in range(3)
    ]
    entries_upsert(integration=integration, records=records)
    return integration


def completed_job(integration) -> SyncJob:
    organisation = integration.organisation
    return SyncJob.objects.create(organisation=organisation, integration=integration, status=JobStatus.COMPLETED)


def articles_of(source) -> dict[str, dict]:
    """What a correct publish leaves in the fake Leena: each entry under `<entry id>$en`."""
    return {
        f"{entry.pk}$en": {"name": entry.title, "html_content": entry.html, "attachments": []}
        for entry in KnowledgeEntry.objects.filter(integration=source)
    }


def test_leena_articles_equal_to_the_knowledge_base_pass(source):
    assert leena_failures(completed_job(source), str(source.pk), articles_of(source), "en") == []


def test_leena_article_missing_or_stale_fails(source):
    articles = articles_of(source)
    missing, stale = sorted(articles)[:2]
    del articles[missing]
    articles[stale] = {**articles[stale], "html_content": "<p>an older text</p>"}

    failures = leena_failures(completed_job(source), str(source.pk), articles, "en")

    assert f"Leena articles: 1 of 3 expected keys missing, e.g. {missing}" in failures
    assert f"Leena articles: 1 differ from their entry, e.g. {stale}" in failures


def test_haiilo_entries_against_the_fakes_keys(source):
    """Live entries only: a tombstoned entry is not in the knowledge base any more."""
    job, source_id = completed_job(source), str(source.pk)
    assert haiilo_failures(job, source_id, {"doc-0", "doc-1", "doc-2"}) == []
    KnowledgeEntry.objects.filter(integration=source, external_id="doc-2").update(deleted_at=job.created_at)

    assert haiilo_failures(job, source_id, {"doc-0", "doc-1", "doc-2"}) == [
        "Haiilo entries: 1 of 3 expected keys missing, e.g. doc-2"
    ]
    assert haiilo_failures(job, source_id, {"doc-0"}) == ["Haiilo entries: 1 keys not expected, e.g. doc-1"]


def test_a_run_that_did_not_complete_fails(source):
    job = SyncJob.objects.create(
        organisation=source.organisation, integration=source, status=JobStatus.FAILED, error_message="Leena said 500"
    )
    assert run_failures("Leena", job) == ["Leena: the run ended failed: Leena said 500"]


def test_rss_growth_of_ten_percent_fails():
    assert rss_failures(100 << 20, 109 << 20) == []
    assert rss_failures(100 << 20, 110 << 20) == ["worker RSS grew by 10.0% (100 -> 110 MB), limit 10%"]
