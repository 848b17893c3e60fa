"""One receive path for every connector with signed callbacks: each with its own verifier, and a
payload that becomes job-log lines (a destination's status report) as well as entries (a webhook's)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from connectors import registry
from integrations.models import Integration, JobStatus, KnowledgeEntry, SyncJob
from integrations.runs.jobs import LOG_MAX_LINES
from tests.fakes.status_callbacks import (
    OPEN_HEADER,
    STATUS_SIGNATURE_HEADER,
    OpenStatusConnector,
    StatusDeskConnector,
    status_signature_for,
)
from tests.webhooks.helpers import DEPLOY_BODY, assert_error, post_signed, post_standard, raw_of, receive_path
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

REPORT = {
    "job": "7",
    "status": "finished",
    "articles": [
        {"id": "12", "status": "failed", "reason": "title too long"},
        {"id": "13", "status": "published"},
    ],
}
REPORT_LINES = [
    ("info", "Remote job 7 finished.", None),
    ("error", "Article 12 failed: title too long", "12"),
]


@pytest.fixture
def status_connectors():
    for connector_cls in (StatusDeskConnector, OpenStatusConnector):
        registry.register(connector_cls)
    yield
    for connector_cls in (StatusDeskConnector, OpenStatusConnector):
        registry.unregister(connector_cls.info.type)


def created(admin_client, connector_type: str, name: str = "Publisher") -> dict[str, Any]:
    response = admin_client.post("/api/v1/integrations/", {"type": connector_type, "name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def statusdesk(admin_client, status_connectors) -> dict[str, Any]:
    """A status desk destination made through the real API: its signing secret and receive URL included."""
    return created(admin_client, "statusdesk")


def post_status(path: str, body: bytes | dict[str, Any], secret: str, *, timestamp: int | None = None, **headers):
    """POST signed with the status desk's own scheme, by its signing helper."""
    raw = raw_of(body)
    signature = status_signature_for(secret, raw, timestamp=int(time.time()) if timestamp is None else timestamp)
    return Client().generic(
        "POST", path, raw, content_type="application/json", headers={STATUS_SIGNATURE_HEADER: signature, **headers}
    )


def job_of(integration: dict[str, Any], status: str) -> SyncJob:
    stored = Integration.objects.get(id=integration["id"])
    return SyncJob.objects.create(organisation_id=stored.organisation_id, integration=stored, status=status)


def lines_of(job: SyncJob) -> list[tuple[str, str, str | None]]:
    job.refresh_from_db()
    return [(line["level"], line["message"], line.get("external_id")) for line in job.log]


# --- one URL, each connector's verifier ---------------------------------------------------------


def test_the_one_receive_url_verifies_each_connector_by_its_own_scheme(webhook, statusdesk):
    job = job_of(statusdesk, JobStatus.COMPLETED)
    status_path, status_secret = receive_path(statusdesk["id"]), statusdesk["signing_secret"]
    hook_path, hook_secret = receive_path(webhook["id"]), webhook["signing_secret"]

    assert statusdesk["webhook_url"].endswith(status_path)
    assert post_status(status_path, REPORT, status_secret).status_code == 202
    assert post_signed(hook_path, DEPLOY_BODY, hook_secret).status_code == 202
    assert post_standard(hook_path, {"text": "deployed"}, hook_secret, msg_id="msg_x").status_code == 202
    # Each refuses the other's scheme, even signed with its own secret: it asks for its own headers.
    assert_error(post_signed(status_path, REPORT, status_secret), 400, "VALIDATION_ERROR")
    assert_error(post_standard(status_path, REPORT, status_secret, msg_id="msg_y"), 400, "VALIDATION_ERROR")
    assert_error(post_status(hook_path, DEPLOY_BODY, hook_secret), 400, "VALIDATION_ERROR")

    assert lines_of(job) == REPORT_LINES
    assert KnowledgeEntry.objects.filter(integration_id=webhook["id"]).count() == 2
    assert not KnowledgeEntry.objects.filter(integration_id=statusdesk["id"]).exists()


@pytest.mark.parametrize(
    ("secret_of", "timestamp_shift"),
    [(lambda hook: "whsec_not-the-secret", 0), (lambda hook: hook["signing_secret"], -301),
     (lambda hook: hook["signing_secret"], 301)],
    ids=["wrong secret", "stale", "from the future"],
)  # fmt: skip
def test_a_status_callback_not_signed_now_with_its_secret_is_refused(statusdesk, secret_of, timestamp_shift):
    job = job_of(statusdesk, JobStatus.RUNNING)
    response = post_status(
        receive_path(statusdesk["id"]), REPORT, secret_of(statusdesk), timestamp=int(time.time()) + timestamp_shift
    )

    assert_error(response, 403, "FORBIDDEN")
    assert lines_of(job) == [] and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("header", ["", "t=1,v1=abc", "sha256=" + "0" * 64])
def test_a_malformed_status_signature_is_a_400(statusdesk, header):
    response = Client().generic(
        "POST", receive_path(statusdesk["id"]), json.dumps(REPORT), content_type="application/json",
        headers={STATUS_SIGNATURE_HEADER: header},
    )  # fmt: skip
    assert_error(response, 400, "VALIDATION_ERROR")


def test_a_connector_without_signed_callbacks_is_a_404_like_an_unknown_id(org, statusdesk):
    """What decides is the connector class (SignedCallbacks), not the type being `webhook`."""
    job_of(statusdesk, JobStatus.COMPLETED)
    secret = statusdesk["signing_secret"]
    notes = Integration(organisation=org, type="notes", name="Runbooks")
    notes.credentials = {"signing_secret": secret}  # even with a secret, a pull source takes no callbacks
    notes.save()

    assert post_status(receive_path(statusdesk["id"]), REPORT, secret).status_code == 202
    assert_error(post_status(receive_path(notes.id), REPORT, secret), 404, "NOT_FOUND")
    assert_error(post_signed(receive_path(notes.id), DEPLOY_BODY, secret), 404, "NOT_FOUND")
    assert_error(post_status(receive_path(uuid.uuid4()), REPORT, secret), 404, "NOT_FOUND")


# --- what a payload becomes: job-log lines ------------------------------------------------------


def test_a_status_report_goes_to_the_running_job_not_an_older_one(statusdesk):
    older = job_of(statusdesk, JobStatus.COMPLETED)
    running = job_of(statusdesk, JobStatus.RUNNING)

    response = post_status(receive_path(statusdesk["id"]), REPORT, statusdesk["signing_secret"])

    assert response.status_code == 202, response.content
    assert response.json() == {
        "integration_id": statusdesk["id"], "accepted": True, "entry_id": None, "message": "Payload accepted.",
    }  # fmt: skip
    assert lines_of(running) == REPORT_LINES and lines_of(older) == []


def test_without_a_running_job_the_report_goes_to_the_most_recent_one(statusdesk):
    first = job_of(statusdesk, JobStatus.COMPLETED)
    last = job_of(statusdesk, JobStatus.FAILED)

    assert post_status(receive_path(statusdesk["id"]), REPORT, statusdesk["signing_secret"]).status_code == 202

    assert lines_of(last) == REPORT_LINES and lines_of(first) == []


def test_the_report_shows_in_the_job_history_through_the_api(admin_client, statusdesk):
    job = job_of(statusdesk, JobStatus.COMPLETED)
    assert post_status(receive_path(statusdesk["id"]), REPORT, statusdesk["signing_secret"]).status_code == 202

    response = admin_client.get(f"/api/v1/integrations/{statusdesk['id']}/history/{job.id}")

    assert response.status_code == 200, response.content
    assert [line["message"] for line in response.json()["log"]] == [message for _, message, _ in REPORT_LINES]


def test_a_report_with_no_job_to_go_to_or_nothing_to_say_is_not_accepted(statusdesk):
    path, secret = receive_path(statusdesk["id"]), statusdesk["signing_secret"]

    no_job = post_status(path, REPORT, secret)
    job = job_of(statusdesk, JobStatus.COMPLETED)
    nothing = post_status(path, {"hello": "world"}, secret)

    for response in (no_job, nothing):
        assert response.status_code == 200, response.content
        assert response.json()["accepted"] is False
    assert lines_of(job) == []


def test_a_retried_report_is_logged_once(statusdesk):
    job = job_of(statusdesk, JobStatus.RUNNING)
    path, secret, now = receive_path(statusdesk["id"]), statusdesk["signing_secret"], int(time.time())

    first = post_status(path, REPORT, secret, timestamp=now)
    retry = post_status(path, REPORT, secret, timestamp=now)
    later = post_status(path, REPORT, secret, timestamp=now + 1)  # a new report that says the same: logged again

    assert [r.status_code for r in (first, retry, later)] == [202, 202, 202]
    assert retry.json() == first.json()
    assert lines_of(job) == REPORT_LINES * 2
    assert WebhookDelivery.objects.filter(integration_id=statusdesk["id"]).count() == 2


def test_reports_keep_the_job_log_within_its_bounds(statusdesk):
    job = job_of(statusdesk, JobStatus.COMPLETED)
    job.log = [
        {"level": "info", "message": f"line {n}", "at": "2026-12-01T00:00:00+00:00"} for n in range(LOG_MAX_LINES)
    ]
    job.save(update_fields=["log"])
    path, secret = receive_path(statusdesk["id"]), statusdesk["signing_secret"]

    for shift in range(3):
        assert post_status(path, REPORT, secret, timestamp=int(time.time()) + shift).status_code == 202

    job.refresh_from_db()
    assert len(job.log) == LOG_MAX_LINES + 1
    assert job.log[-1] == {"level": "info", "message": f"{3 * len(REPORT_LINES)} more lines not kept."}


def test_a_record_from_a_connector_whose_callbacks_make_none_is_not_kept(statusdesk):
    """A destination is no source: a record its callback makes (the fake quotes published articles
    as records when asked to) makes no entry."""
    job_of(statusdesk, JobStatus.COMPLETED)
    quoting = {"job": "1", "status": "finished", "articles": [{"id": "5", "status": "published", "text": "Quoted."}]}

    response = post_status(receive_path(statusdesk["id"]), quoting, statusdesk["signing_secret"])

    assert response.status_code == 202 and response.json()["entry_id"] is None
    assert not KnowledgeEntry.objects.exists()


# --- rotate-secret asks the connector's verifier ------------------------------------------------


def rotate(admin_client, integration: dict[str, Any]):
    return admin_client.post(f"/api/v1/integrations/{integration['id']}/rotate-secret")


def test_rotate_secret_works_for_a_connector_whose_verifier_uses_signing_secrets(admin_client, statusdesk):
    job = job_of(statusdesk, JobStatus.RUNNING)
    path, old = receive_path(statusdesk["id"]), statusdesk["signing_secret"]

    response = rotate(admin_client, statusdesk)

    assert response.status_code == 200, response.content
    new = response.json()["signing_secret"]
    assert new != old and response.json()["webhook_url"] == statusdesk["webhook_url"]
    assert post_status(path, {"job": "8", "status": "finished"}, new).status_code == 202
    assert post_status(path, {"job": "9", "status": "finished"}, old).status_code == 202  # the overlap
    assert [message for _, message, _ in lines_of(job)] == ["Remote job 8 finished.", "Remote job 9 finished."]


def test_rotate_secret_is_refused_for_a_verifier_without_signing_secrets(admin_client, status_connectors):
    open_desk = created(admin_client, "statusdesk-open")
    job = job_of(open_desk, JobStatus.RUNNING)
    credentials = Integration.objects.get(id=open_desk["id"]).credentials

    assert_error(rotate(admin_client, open_desk), 400, "VALIDATION_ERROR")

    assert Integration.objects.get(id=open_desk["id"]).credentials == credentials
    # Its callbacks are still received, by its own verifier.
    path = receive_path(open_desk["id"])
    body = json.dumps(REPORT)
    refused = Client().generic("POST", path, body, content_type="application/json")
    received = Client().generic("POST", path, body, content_type="application/json", headers={OPEN_HEADER: "private"})
    assert_error(refused, 403, "FORBIDDEN")
    assert received.status_code == 202 and lines_of(job) == REPORT_LINES
