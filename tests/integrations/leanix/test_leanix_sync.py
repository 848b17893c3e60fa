"""The LeanIX connector through a real worker against the fake LeanIX, every exchange checked by the Swagger.

Pull (`from_leanix`): one outbound run, its results become entries, missing ones tombstones. Push
(`to_leanix`): the engine's batches, one inbound run each, accepted once the run FINISHED. `both`: the
two in one job with their own checkpoints.
"""

from __future__ import annotations

import pytest

from integrations.models import Integration, KnowledgeEntry, PushLedgerEntry
from tests.fakes.notes import NotesServer
from tests.integrations.leanix.conftest import RUN_TIMEOUT_SECONDS
from tests.integrations.test_sync_jobs import start_sync
from tests.waiting import job_ended

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
BASE = "/api/v1/integrations/"


def create(client, body: dict) -> str:
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def leanix_integration(client, leanix, **config) -> str:
    return create(client, {"type": "leanix", "name": "LeanIX", "config": leanix.config(**config)})


def run(client, integration_id: str, status: str = "completed") -> dict:
    job = job_ended(client, integration_id, start_sync(client, integration_id)["sync_job_id"], timeout=90)
    assert job["status"] == status, job
    return client.get(f"{BASE}{integration_id}/history/{job['id']}").json()


def messages(job: dict, level: str | None = None) -> list[str]:
    return [line["message"] for line in job["log"] if level is None or line["level"] == level]


def notes_source(client, notes: NotesServer, count: int) -> str:
    for n in range(count):
        notes.upstream.put(f"n{n}", f"Note {n}", f"Body of note {n}")
    body = {"type": "notes", "name": "Team notes", "config": {"base_url": notes.url, "api_key": "notes-key"}}
    source = create(client, body)
    run(client, source)
    return source


def inbound_runs(leanix) -> list:
    return [r for r in leanix.workspace.runs.values() if r.ldif["processingDirection"] == "inbound"]


def test_from_leanix_brings_fact_sheets_in_with_text_link_and_metadata_then_tombstones_what_left(
    leanix_worker, admin_client, leanix
):
    ws = leanix.workspace
    crm = ws.fact_sheet_add("Application", "CRM", description="Customer records", lifecycle={"active": "2020-01-01",
                            "endOfLife": ""}, owners=["Team X", "Team Y"])  # fmt: skip
    erp = ws.fact_sheet_add("Application", "ERP", description="Ledgers")
    ws.fact_sheet_add("Project", "Migrate ERP", description="")
    integration = leanix_integration(admin_client, leanix)
    first = run(admin_client, integration)
    assert (first["records_synced"], first["entries_created"]) == (3, 3)
    entry = KnowledgeEntry.objects.get(external_id=f"Application:{crm.id}")
    assert entry.title == "CRM"
    assert entry.content == "Description: Customer records\nLifecycle active: 2020-01-01\nOwners: Team X, Team Y"
    assert entry.url == f"{leanix.url}/acme/factsheet/Application/{crm.id}"
    assert entry.metadata["leanix_type"] == "Application" and entry.metadata["data"]["owners"] == ["Team X", "Team Y"]
    outbound = [r for r in ws.runs.values() if r.ldif["processingDirection"] == "outbound"]
    assert len(outbound) == 1 and outbound[0].ldif["connectorId"] == "tributary-fact-sheets"

    # Unchanged items are not rewritten; an archived fact sheet becomes a tombstone.
    written = {e.external_id: e.updated_at for e in KnowledgeEntry.objects.all()}
    ws.fact_sheets[erp.id].status = "ARCHIVED"
    second = run(admin_client, integration)
    assert (second["entries_created"], second["progress"]["entries_deleted"]) == (0, 1)
    assert KnowledgeEntry.objects.get(external_id=f"Application:{erp.id}").deleted_at is not None
    kept = KnowledgeEntry.objects.get(external_id=f"Application:{crm.id}")
    assert kept.updated_at == written[kept.external_id] and kept.deleted_at is None
    assert Integration.objects.get(pk=integration).push_checkpoint == {}  # the push never ran
    assert not inbound_runs(leanix)


def test_to_leanix_sends_runs_of_run_size_accepts_after_finished_and_sends_nothing_twice(
    leanix_worker, admin_client, leanix
):
    with NotesServer() as notes:
        source = notes_source(admin_client, notes, 12)
        destination = leanix_integration(admin_client, leanix, direction="to_leanix", run_size=5)
        first = run(admin_client, destination)
        assert (first["records_found"], first["records_imported"], first["entries_created"]) == (12, 12, 12)
        sizes = [len(r.ldif["content"]) for r in inbound_runs(leanix)]
        assert sizes == [5, 5, 2] and all(r.status == "FINISHED" for r in inbound_runs(leanix))
        sheets = {s.external_id: s for s in leanix.workspace.active("DataObject")}
        entry = KnowledgeEntry.objects.get(external_id="n3")
        item = next(i for r in inbound_runs(leanix) for i in r.ldif["content"] if i["id"] == str(entry.id))
        assert item["type"] == "knowledgeEntry"
        sent = {k: item["data"][k] for k in ("name", "description", "source", "sourceType")}
        assert sent == {
            "name": "Note 3",
            "description": "Body of note 3",
            "source": "Team notes",
            "sourceType": "notes",
        }
        assert sheets[str(entry.id)].name == "Note 3" and sheets[str(entry.id)].fields["alias"] == "Team notes"
        assert not any(r.ldif["processingDirection"] == "outbound" for r in leanix.workspace.runs.values())

        # Nothing to send starts no LeanIX run; one edit sends one item; a tombstone archives its sheet.
        assert run(admin_client, destination)["records_found"] == 0 and len(inbound_runs(leanix)) == 3
        notes.upstream.put("n4", "Note 4", "Edited body")
        notes.upstream.delete("n5")
        run(admin_client, source)
        third = run(admin_client, destination)
        assert (third["records_found"], third["records_imported"]) == (2, 2)
        last = inbound_runs(leanix)[-1].ldif["content"]
        gone = str(KnowledgeEntry.objects.get(external_id="n5").id)
        assert sorted((i["id"] == gone, i["data"].get("deleted", False)) for i in last) == [
            (False, False),
            (True, True),
        ]
        assert leanix.workspace.by_external_id(gone).status == "ARCHIVED"
        edited = str(KnowledgeEntry.objects.get(external_id="n4").id)
        assert leanix.workspace.by_external_id(edited).fields["description"] == "Edited body"


def test_a_warning_naming_a_content_fails_that_entry_only_and_it_is_offered_again(leanix_worker, admin_client, leanix):
    leanix.workspace.invalid_names.add("Note 2")
    with NotesServer() as notes:
        notes_source(admin_client, notes, 4)
        destination = leanix_integration(admin_client, leanix, direction="to_leanix")
        first = run(admin_client, destination)  # a warning never fails the job on its own
        assert (first["records_imported"], first["progress"]["records_failed"]) == (3, 1)
        refused = KnowledgeEntry.objects.get(external_id="n2")
        assert any("Invalid name 'Note 2'" in m and str(refused.id) in m for m in messages(first, "warning"))
        ledger = PushLedgerEntry.objects.get(destination_id=destination, entry=refused)
        assert ledger.accepted_at is None and "LeanIX warned: Invalid name" in ledger.last_error
        leanix.workspace.invalid_names.clear()
        second = run(admin_client, destination)
        assert (second["records_found"], second["records_imported"]) == (1, 1)
        assert [i["id"] for i in inbound_runs(leanix)[-1].ldif["content"]] == [str(refused.id)]


def test_both_pulls_then_pushes_with_checkpoints_apart_and_does_not_pull_its_own_sheets_back(
    leanix_worker, admin_client, leanix
):
    leanix.workspace.fact_sheet_add("Application", "CRM", description="Customer records")
    with NotesServer() as notes:
        notes_source(admin_client, notes, 3)
        both = leanix_integration(admin_client, leanix, direction="both")
        first = run(admin_client, both)
        directions = first["progress"]["directions"]
        assert directions["pull"]["records_imported"] == 1 and directions["push"]["records_imported"] == 3
        integration = Integration.objects.get(pk=both)
        assert len(integration.sync_checkpoint["ids"]) == 1 and integration.push_checkpoint["last_job_id"]
        # The sheets its push wrote (DataObject) are outside the outbound scope: not pulled back in.
        second = run(admin_client, both)
        assert second["progress"]["directions"]["pull"]["records_imported"] == 1
        assert KnowledgeEntry.objects.filter(integration_id=both).count() == 1


def test_a_run_leanix_reports_failed_fails_the_job_with_leanix_words(leanix_worker, admin_client, leanix):
    leanix.workspace.fail_runs.append("Fact sheet type 'DataObject' is not in the data model")
    with NotesServer() as notes:
        notes_source(admin_client, notes, 4)
        destination = leanix_integration(admin_client, leanix, direction="to_leanix", run_size=2)
        job = run(admin_client, destination, status="failed")
        assert "FAILED: Fact sheet type 'DataObject' is not in the data model" in job["error_message"]
        assert PushLedgerEntry.objects.filter(destination_id=destination, accepted_at__isnull=True).count() == 4
        # The batch after the failed run is not sent: one run only.
        assert len(inbound_runs(leanix)) == 1 and "Not sent: an earlier run of this job failed" in job["error_message"]
    puller = leanix_integration(admin_client, leanix)
    leanix.workspace.fail_runs.append("The outbound processor failed")
    assert "The outbound processor failed" in run(admin_client, puller, status="failed")["error_message"]


def test_a_run_that_never_finishes_is_stopped_at_the_timeout_and_the_job_fails_saying_so(
    leanix_worker, admin_client, leanix
):
    leanix.workspace.never_finish = True
    integration = leanix_integration(admin_client, leanix)
    job = run(admin_client, integration, status="failed")
    (stopped,) = leanix.workspace.stops
    assert f"run {stopped} did not finish within {RUN_TIMEOUT_SECONDS} s" in job["error_message"]
    assert "it was stopped" in job["error_message"] and leanix.workspace.runs[stopped].status == "STOPPED"
    polls = [p for m, p in leanix.workspace.requests if p.endswith(f"{stopped}/status")]
    assert 5 < len(polls) < 60  # polled with backoff, not in a tight loop


def test_429_and_5xx_are_retried_with_backoff_and_results_not_ready_are_polled_again(
    leanix_worker, admin_client, leanix
):
    leanix.workspace.fact_sheet_add("Project", "Migrate ERP")
    integration = leanix_integration(admin_client, leanix)
    leanix.workspace.answer_statuses = [429, 503]  # the run's creation, answered twice with "later"
    leanix.workspace.results_not_ready = 2
    job = run(admin_client, integration)
    assert job["records_imported"] == 1
    posts = [p for m, p in leanix.workspace.requests if m == "POST" and p.endswith("/synchronizationRuns")]
    results = [p for m, p in leanix.workspace.requests if p.endswith("/results")]
    assert len(posts) == 3 and len(results) == 3


def test_manage_processors_writes_what_the_direction_needs_once_and_again_when_it_changes(leanix_worker, admin_client):
    from tests.fakes.leanix import FakeLeanIX

    with FakeLeanIX(processors=False) as leanix:
        unmanaged = leanix_integration(admin_client, leanix)
        assert "No processor configuration found" in run(admin_client, unmanaged, status="failed")["error_message"]
        managed = leanix_integration(admin_client, leanix, manage_processors=True)
        first = run(admin_client, managed)
        assert any("Wrote the outbound processor configuration" in m for m in messages(first))
        assert [c["processingDirection"] for c in leanix.workspace.configuration_puts] == ["outbound"]
        run(admin_client, managed)
        assert len(leanix.workspace.configuration_puts) == 1
        config = leanix.config(manage_processors=True, outbound_connector_version="1.1.0")
        patched = admin_client.patch(f"{BASE}{managed}", {"config": config}, format="json")
        assert patched.status_code == 200, patched.content
        run(admin_client, managed)
        assert [c["connectorVersion"] for c in leanix.workspace.configuration_puts] == ["1.0.0", "1.1.0"]
        assert leanix.spec.violations == []


def test_the_token_is_reused_across_jobs_and_renewed_once_on_a_401(leanix_worker, admin_client, leanix):
    integration = leanix_integration(admin_client, leanix)  # the live check on create asks for one
    run(admin_client, integration)
    run(admin_client, integration)
    assert leanix.workspace.token_requests == 2  # the create's check, then one kept for both jobs
    leanix.workspace.tokens_expire()
    run(admin_client, integration)
    assert leanix.workspace.token_requests == 3


def test_leanix_error_body_is_shown_in_the_jobs_message(leanix_worker, admin_client, leanix):
    integration = leanix_integration(admin_client, leanix)
    # The run's creation refused with a status the Swagger lists for it, and LeanIX's {"errors": [...]}.
    leanix.workspace.answer_statuses = [403]
    job = run(admin_client, integration, status="failed")
    assert "switch: answering 403" in job["error_message"], job["error_message"]
