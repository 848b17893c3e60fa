"""The LeanIX client and LDIF mapping against the fake LeanIX over real HTTP, and the Swagger harness itself."""

from __future__ import annotations

import httpx
import pytest

from connectors.errors import CredentialInvalid, UpstreamRejected
from connectors.leanix.client import LeanIXClient, results_items
from connectors.leanix.ldif import readable_text, record_from_item
from connectors.leanix.runs import LeanIXRunFailed, run_to_the_end
from tests.fakes.leanix import FakeLeanIX
from tests.fakes.leanix_workspace import Run


@pytest.fixture
def leanix():
    with FakeLeanIX() as fake:
        yield fake


def client_for(leanix: FakeLeanIX, token: str | None = None) -> LeanIXClient:
    return LeanIXClient(base_url=leanix.url, api_token=token or leanix.workspace.api_token, max_attempts=2)


def test_every_page_of_warnings_is_read_with_offsets_that_are_multiples_of_the_limit(leanix):
    run = leanix.workspace.run_create({"connectorType": "t", "connectorId": "i", "connectorVersion": "1"})
    run.warnings = [{"message": f"w{n}", "status": "WARNING"} for n in range(250)]
    with client_for(leanix) as client:
        assert [w["message"] for w in client.run_warnings(run.id)] == [f"w{n}" for n in range(250)]
        # The Swagger's rule, kept by the fake: an offset that is not a multiple of the limit is a 400.
        with pytest.raises(UpstreamRejected) as refused:
            client._call("GET", f"/synchronizationRuns/{run.id}/warnings", params={"offset": 50, "limit": 100})
        assert "offset MOD limit must be 0" in refused.value.message and "LeanIX refused" in refused.value.message
        assert refused.value.message.startswith(f"SAP LeanIX: GET {leanix.url}/services/integration-api/v1/")
    offsets = [p for m, p in leanix.workspace.requests if p.endswith("/warnings")]
    assert len(offsets) == 4
    assert leanix.spec.violations == []


def test_a_run_id_is_read_from_leanixs_object_and_from_the_swaggers_list(leanix):
    for as_list in (False, True):
        leanix.workspace.runs_answer_as_list = as_list
        with client_for(leanix) as client:
            ldif = b'{"connectorType":"t","connectorId":"i","connectorVersion":"1","processingDirection":"inbound"}'
            run_id = client.run_create(ldif)
        assert run_id in leanix.workspace.runs
    assert leanix.spec.violations == []


def test_a_failed_run_raises_with_its_error_warnings_else_its_description(leanix):
    leanix.workspace.fail_runs.append("Attribute 'foo' does not exist")
    ldif = (b'{"connectorType":"tributary","connectorId":"tributary-knowledge-entries","connectorVersion":"1.0.0",'
            b'"lxVersion":"1.0.0","processingDirection":"inbound","content":[]}')  # fmt: skip
    with client_for(leanix) as client, pytest.raises(LeanIXRunFailed) as failed:
        run_to_the_end(client, ldif, what="inbound")
    assert "FAILED: Attribute 'foo' does not exist" in failed.value.message and not failed.value.retryable


def test_a_run_whose_status_cannot_be_read_is_stopped_and_fails_without_a_retry(leanix):
    """A retry of the job would start a second run of the same content while this one goes on."""
    leanix.workspace.never_finish = True
    leanix.workspace.answer_statuses = [None, None, 503, 503]  # create and start pass; each status attempt: 503
    ldif = (b'{"connectorType":"tributary","connectorId":"tributary-knowledge-entries","connectorVersion":"1.0.0",'
            b'"lxVersion":"1.0.0","processingDirection":"inbound","content":[]}')  # fmt: skip
    with client_for(leanix) as client, pytest.raises(LeanIXRunFailed) as failed:
        run_to_the_end(client, ldif, what="inbound")
    [run_id] = leanix.workspace.runs
    assert "503" in failed.value.message and "/status" in failed.value.message and not failed.value.retryable
    assert leanix.workspace.stops == [run_id] and leanix.workspace.runs[run_id].status == "STOPPED"


def test_a_wrong_api_token_is_refused_at_the_token_endpoint(leanix):
    with client_for(leanix, token="not-the-token") as client, pytest.raises(CredentialInvalid):
        client.token()


def test_the_harness_reports_a_request_the_swagger_refuses(leanix):
    """Proof the check can fail: an LDIF without its connectorId, a warnings limit over 100."""
    with client_for(leanix) as client:
        token = client.token().access_token
    headers = {"Authorization": f"Bearer {token}"}
    api = f"{leanix.url}/services/integration-api/v1"
    httpx.post(f"{api}/synchronizationRuns", json={"connectorType": "t", "connectorVersion": "1",
                                                  "processingDirection": "inbound"}, headers=headers)  # fmt: skip
    run = leanix.workspace.run_create({})
    httpx.get(f"{api}/synchronizationRuns/{run.id}/warnings", params={"offset": 0, "limit": 500}, headers=headers)
    assert len(leanix.spec.violations) == 2, leanix.spec.violations
    assert "connectorId" in leanix.spec.violations[0] and "limit" in leanix.spec.violations[1]
    leanix.spec.violations.clear()


def test_results_are_read_item_by_item_with_the_workspace_and_mapped_to_records():
    ldif = (b'{"connectorType":"t","lxWorkspace":"acme","content":[{"type":"Application","id":"a1","data":'
            b'{"name":"CRM","description":"Customer records","lifecycle":{"phase":"active","endOfLife":null},'
            b'"tags":["Importance:High",""],"relations":[{"target":"Team X"},{"target":"Team Y"}],"score":1.5}},'
            b'{"type":"Project","id":"p1","data":{"name":"Migrate"}}]}')  # fmt: skip
    items = list(results_items(ldif))
    assert [(workspace, item["id"]) for workspace, item in items] == [("acme", "a1"), ("acme", "p1")]
    record = record_from_item(items[0][1], site="https://acme.leanix.net", workspace="acme")
    assert (record.external_id, record.title) == ("Application:a1", "CRM")
    assert record.url == "https://acme.leanix.net/acme/factsheet/Application/a1"
    assert record.content.splitlines() == [
        "Description: Customer records", "Lifecycle phase: active", "Tags: Importance:High",
        "Relations target: Team X", "Relations target: Team Y", "Score: 1.5",
    ]  # fmt: skip
    assert record_from_item(items[1][1], site="https://x", workspace=None).url == ""
    assert readable_text({"name": "x", "empty": "", "none": None, "nested": {}}) == ""


def test_results_that_are_not_json_are_refused():
    with pytest.raises(
        UpstreamRejected, match=r"^SAP LeanIX: GET …/synchronizationRuns/\{id\}/results returned 200 with"
    ):
        list(results_items(b'{"content": [{"type": "A", "id": '))


def test_runs_move_through_their_states_over_time(leanix):
    run: Run = leanix.workspace.run_create({"processingDirection": "inbound"})
    leanix.workspace.pending_seconds, leanix.workspace.progress_seconds = 0.2, 0.2
    leanix.workspace.run_start(run)
    seen = []
    import time

    deadline = time.monotonic() + 3
    while run.status not in ("FINISHED", "FAILED") and time.monotonic() < deadline:
        leanix.workspace.run_advance(run)
        if not seen or seen[-1] != run.status:
            seen.append(run.status)
        time.sleep(0.02)
    assert seen[:2] == ["PENDING", "IN_PROGRESS"] and seen[-1] == "FAILED"  # no configuration for its binding


def test_the_cancel_hook_stops_the_run_upstream_between_polls(leanix):
    """What the engine's cancel will wire (LeanIXConnector._cancelled): the run is stopped, the wait ends."""
    from connectors.leanix.runs import LeanIXRunCancelled

    leanix.workspace.never_finish = True
    polls = []

    def cancelled() -> bool:
        polls.append(1)
        return len(polls) >= 3

    with client_for(leanix) as client, pytest.raises(LeanIXRunCancelled) as stopped:
        run_to_the_end(client, b'{"connectorType":"t","connectorId":"i","connectorVersion":"1",'
                               b'"processingDirection":"inbound"}', what="inbound", cancelled=cancelled)  # fmt: skip
    (run_id,) = leanix.workspace.stops
    assert leanix.workspace.runs[run_id].status == "STOPPED" and run_id in stopped.value.message
    assert leanix.spec.violations == []
