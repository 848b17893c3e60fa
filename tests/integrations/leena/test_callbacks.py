"""Leena's signed callbacks (the seed's V2 async API) after real runs through a worker: each result in
the log of the run that sent its article, a failure offered again, bad signatures and bodies refused.

The fake builds and signs each callback (tests/fakes/leena.py `callback`); one test posts it over real
HTTP to a gunicorn hub (`send_callback`), the others through Django's test client, which is quicker and
reaches the same view."""

from __future__ import annotations

import pytest
from django.test import Client

from connectors.base import Record
from connectors.leena.callbacks import SIGNATURE_HEADER, leena_signature_for
from integrations.knowledge import entries_upsert
from integrations.models import Integration, KnowledgeEntry, PushLedgerEntry
from tests.console.live_hub import LiveHub
from tests.fakes.leena import FakeLeena, result, send_callback
from tests.integrations.leena.conftest import BASE, destination, push_figures, records, run, source_with_entries
from tests.webhooks.helpers import assert_error, receive_path
from webhooks.models import WebhookDelivery

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
SYNC = "/api/integration/articles/sync/"


def post(integration_id: str, raw: bytes, headers: dict[str, str]):
    headers = {name: value for name, value in headers.items() if name != "Content-Type"}
    return Client().generic("POST", receive_path(integration_id), raw, content_type="application/json", headers=headers)


def reference(external_id: str, language: str = "en") -> str:
    return f"{KnowledgeEntry.objects.get(external_id=external_id).pk}${language}"


def callback_lines(client, integration_id: str, job: dict) -> list[tuple[str, str, str]]:
    """The job's log lines that came from Leena's callbacks, as the API's history detail shows them."""
    shown = client.get(f"{BASE}{integration_id}/history/{job['id']}").json()["log"]
    return [(line["level"], line["external_id"], line["message"]) for line in shown if "Leena " in line["message"]]


@pytest.fixture
def two_runs(celery_worker_process, admin_client, notes, leena: FakeLeena):
    """A destination whose first run sent doc0-doc2 and whose second run sent only doc1 (edited)."""
    source = source_with_entries(admin_client, notes, records(3))
    published = destination(admin_client, leena, source)
    first = run(admin_client, published)
    entries_upsert(integration=Integration.objects.get(pk=source), records=[Record("doc1", "Page doc1", "Edited")])
    second = run(admin_client, published)
    assert push_figures(second)[1] == 1
    return published, first, second


def test_results_land_in_the_log_of_the_run_that_sent_each_article_and_a_failure_is_offered_again(
    two_runs, admin_client, leena: FakeLeena
):
    published, first, second = two_runs
    doc0, doc1, doc2 = reference("doc0"), reference("doc1"), reference("doc2")
    raw, headers = leena.callback(
        [result(doc0, "failed", "html_content too large"), result(doc1, "success", "indexed"), result(doc2)],
        prefixed=False,
    )
    response = post(published, raw, headers)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] is True

    # doc0 and doc2 were sent by the first run, doc1 by the second (the latest): each line in its own run.
    assert callback_lines(admin_client, published, first) == [
        (
            "error",
            doc0,
            f"Leena could not process article {doc0}: html_content too large",
        ),
        ("info", doc2, f"Leena processed article {doc2}"),
    ]
    assert callback_lines(admin_client, published, second) == [
        ("info", doc1, f"Leena processed article {doc1}: indexed")
    ]

    failed = PushLedgerEntry.objects.get(destination_id=published, remote_id=doc0)
    assert (failed.accepted_at, failed.attempts) == (None, 1)
    assert failed.last_error == "Leena reported: html_content too large"
    assert PushLedgerEntry.objects.get(destination_id=published, remote_id=doc2).accepted_at is not None

    # The next run offers exactly the failed article, and takes it back into the ledger.
    leena.upstream.calls.clear()
    third = run(admin_client, published)
    assert leena.upstream.steps() == ["token", "sync", "complete"]
    assert [call.detail for call in leena.upstream.calls if call.path == SYNC] == [[doc0]]
    assert push_figures(third) == (1, 1, 1, 2, 0, 0)
    failed.refresh_from_db()
    assert failed.accepted_at is not None and failed.attempts == 0


def test_a_single_result_signed_with_the_sha256_prefix_over_real_http_reaches_the_job_log(
    celery_worker_process, admin_client, notes, leena: FakeLeena
):
    source = source_with_entries(admin_client, notes, records(1))
    response = admin_client.post(
        BASE, {"type": "leena", "name": "Leena", "config": leena.config(sources=source)}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    # Leena signs with the client_secret of the config: the hub issues no signing secret of its own.
    assert "signing_secret" not in created
    assert created["webhook_url"].endswith(receive_path(created["id"]))
    job = run(admin_client, created["id"])
    doc0 = reference("doc0")

    with LiveHub.started(oauth_provider_url="http://127.0.0.1:9") as hub:
        receive_url = hub.url + receive_path(created["id"])
        raw, headers = leena.callback([result(doc0, "success", "indexed")], single=True, prefixed=True)
        assert raw.startswith(b'{"reference_id"')
        answer = send_callback(receive_url, raw, headers)
        assert answer.status_code == 202, answer.text
        forged = send_callback(receive_url, raw, {**headers, SIGNATURE_HEADER: "sha256=" + "0" * 64})
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "FORBIDDEN"

    assert callback_lines(admin_client, created["id"], job) == [
        ("info", doc0, f"Leena processed article {doc0}: indexed")
    ]


def test_bad_and_missing_signatures_are_403_and_malformed_bodies_400_in_the_envelope_changing_nothing(
    two_runs, admin_client, leena: FakeLeena
):
    published, first, second = two_runs
    doc0 = reference("doc0")
    raw, headers = leena.callback([result(doc0, "failed", "broken")])

    wrong = {**headers, SIGNATURE_HEADER: leena.callback([result(doc0, "success")])[1][SIGNATURE_HEADER]}
    assert_error(post(published, raw, wrong), 403, "FORBIDDEN")  # a signature of another body
    missing = {name: value for name, value in headers.items() if name != SIGNATURE_HEADER}
    assert_error(post(published, raw, missing), 403, "FORBIDDEN")
    assert_error(post(published, raw, {**headers, SIGNATURE_HEADER: "sha256=not-hex"}), 403, "FORBIDDEN")
    # Signed with another integration's secret (the fake's, changed): refused all the same.
    leena.upstream.client_secret = "someone-else"
    assert_error(post(published, *leena.callback([result(doc0, "failed", "broken")])), 403, "FORBIDDEN")
    leena.upstream.client_secret = "leena-secret"

    for body in (
        b"not json",
        b"[]",
        b'{"articles": []}',
        b'{"articles": [{"reference_id": "x$en", "status": "done"}]}',
        b'{"articles": ["x$en"]}',
        b'{"status": "failed", "message": "no reference"}',
        b'{"reference_id": "x$en", "status": "failed", "message": 7}',
    ):
        signed = {SIGNATURE_HEADER: leena_signature_for(leena.upstream.client_secret, body)}
        assert_error(post(published, body, signed), 400, "VALIDATION_ERROR")

    row = PushLedgerEntry.objects.get(destination_id=published, remote_id=doc0)
    assert row.accepted_at is not None and row.attempts == 0
    assert callback_lines(admin_client, published, first) == []
    assert callback_lines(admin_client, published, second) == []


def test_a_replayed_callback_is_answered_as_the_first_and_changes_nothing_more(
    two_runs, admin_client, leena: FakeLeena
):
    published, first, _second = two_runs
    doc0 = reference("doc0")
    raw, headers = leena.callback([result(doc0, "failed", "broken")])
    answers = [post(published, raw, headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert len({answer.content for answer in answers}) == 1
    # The signature keys the delivery: one record, one line, one attempt counted.
    assert WebhookDelivery.objects.filter(integration_id=published).count() == 1
    assert len(callback_lines(admin_client, published, first)) == 1
    assert PushLedgerEntry.objects.get(destination_id=published, remote_id=doc0).attempts == 1


def test_a_result_for_an_article_the_hub_never_sent_is_logged_and_changes_no_ledger_row(
    two_runs, admin_client, leena: FakeLeena
):
    published, _first, second = two_runs
    raw, headers = leena.callback([result("unknown$en", "failed", "no such article")])
    assert post(published, raw, headers).status_code == 202
    # Not in the ledger: the line goes to the latest run, and every row stays accepted.
    assert callback_lines(admin_client, published, second) == [
        ("error", "unknown$en", "Leena could not process article unknown$en: no such article")
    ]
    assert not PushLedgerEntry.objects.filter(destination_id=published, accepted_at__isnull=True).exists()
