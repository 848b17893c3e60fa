"""Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) beside X-Knora-Signature,
signed by the reference `standardwebhooks` library with the secret the 201 showed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from integrations.models import Integration, KnowledgeEntry
from tests.webhooks.helpers import (
    DEPLOY_BODY,
    assert_error,
    post_signed,
    post_standard,
    receive_path,
    standard_headers_for,
)
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def test_new_secret_is_whsec_and_standard_base64_of_32_bytes(webhook):
    secret = webhook["signing_secret"]

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_reference_library_sender_is_accepted(webhook, org):
    response = post_standard(receive_path(webhook["id"]), DEPLOY_BODY, webhook["signing_secret"], msg_id="msg_2x")

    assert response.status_code == 202, response.content
    entry = KnowledgeEntry.objects.get(id=response.json()["entry_id"])
    assert entry.organisation_id == org.id
    # The signed id keys the entry and the delivery.
    assert entry.external_id == "msg_2x"
    assert WebhookDelivery.objects.get().idempotency_key == "msg_2x"


def test_one_of_several_signatures_in_the_header_may_match(webhook):
    raw = DEPLOY_BODY
    headers = standard_headers_for(webhook["signing_secret"], raw, msg_id="msg_many")
    other = Webhook("whsec_" + base64.b64encode(b"k" * 32).decode()).sign(
        "msg_many", datetime.now(tz=UTC), raw.decode()
    )
    headers["webhook-signature"] = f"{other} v1a,{base64.b64encode(b'x' * 64).decode()} {headers['webhook-signature']}"

    response = post_signed(receive_path(webhook["id"]), raw, None, headers=headers)

    assert response.status_code == 202, response.content


@pytest.mark.parametrize("skew", [timedelta(seconds=-301), timedelta(seconds=301), timedelta(days=-1)])
def test_timestamp_more_than_300_s_from_now_is_forbidden(webhook, skew):
    response = post_standard(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        webhook["signing_secret"],
        timestamp=datetime.now(tz=UTC) + skew,
    )

    assert_error(response, 403, "FORBIDDEN")
    assert not KnowledgeEntry.objects.exists() and not WebhookDelivery.objects.exists()


def test_timestamp_within_300_s_is_accepted(webhook):
    response = post_standard(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        webhook["signing_secret"],
        timestamp=datetime.now(tz=UTC) - timedelta(seconds=290),
    )

    assert response.status_code == 202, response.content


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret"])
def test_anything_changed_after_signing_is_forbidden(webhook, tamper):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    headers = standard_headers_for(
        "whsec_" + base64.b64encode(b"z" * 32).decode() if tamper == "secret" else secret, DEPLOY_BODY, msg_id="msg_t"
    )
    body = DEPLOY_BODY
    if tamper == "body":
        body = DEPLOY_BODY.replace(b"v2.4.1", b"v6.6.6")
    elif tamper == "id":
        headers["webhook-id"] = "msg_other"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)

    response = post_signed(path, body, None, headers=headers)

    assert_error(response, 403, "FORBIDDEN")
    assert not KnowledgeEntry.objects.exists()


@pytest.mark.parametrize(
    "override",
    [
        {"webhook-id": ""},
        {"webhook-id": "x" * 256},
        {"webhook-id": "has space"},
        {"webhook-timestamp": ""},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": "1700000000.5"},
        {"webhook-timestamp": "-1"},
        {"webhook-timestamp": "01700000000"},
        {"webhook-signature": ""},
        {"webhook-signature": "v1"},
        {"webhook-signature": "v1,abc"},
        {"webhook-signature": "v1,a,b"},
        {"webhook-signature": "v1,!!!!"},
        {"webhook-signature": "sha256=" + "a" * 64},
    ],
)
def test_malformed_standard_headers_are_a_validation_error(webhook, override):
    headers = {**standard_headers_for(webhook["signing_secret"], DEPLOY_BODY, msg_id="msg_m"), **override}
    headers = {key: value for key, value in headers.items() if value != "" or key == "webhook-signature"}

    response = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, None, headers=headers)

    assert_error(response, 400, "VALIDATION_ERROR")
    assert not KnowledgeEntry.objects.exists()


def test_a_knora_signature_beside_a_bad_standard_one_does_not_open_the_door(webhook):
    """With webhook-signature present the scheme is Standard Webhooks: a valid body-only
    signature next to it cannot make up for a stale timestamp."""
    secret = webhook["signing_secret"]
    old = datetime.now(tz=UTC) - timedelta(hours=1)
    response = post_standard(
        receive_path(webhook["id"]), DEPLOY_BODY, secret, timestamp=old, headers={"X-Knora-Signature": ""}
    )
    with_knora = post_signed(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        secret,
        headers=standard_headers_for(secret, DEPLOY_BODY, msg_id="m", timestamp=old),
    )

    assert_error(response, 403, "FORBIDDEN")
    assert_error(with_knora, 403, "FORBIDDEN")


def test_retry_with_the_same_signed_id_gets_the_first_answer_and_ids_key_entries(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    first = post_standard(path, {"text": "first"}, secret, msg_id="msg_a")
    retry = post_standard(path, {"text": "first"}, secret, msg_id="msg_a")
    same_body_other_id = post_standard(path, {"text": "first"}, secret, msg_id="msg_b")

    assert first.status_code == retry.status_code == same_body_other_id.status_code == 202
    assert retry.json() == first.json()
    assert same_body_other_id.json()["entry_id"] != first.json()["entry_id"]
    assert KnowledgeEntry.objects.count() == 2 and WebhookDelivery.objects.count() == 2


def test_standard_and_knora_signatures_both_work_on_one_integration(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]

    assert post_signed(path, {"text": "knora"}, secret).status_code == 202
    assert post_standard(path, {"text": "standard"}, secret).status_code == 202
    assert KnowledgeEntry.objects.count() == 2


def test_integration_with_a_secret_from_before_standard_webhooks_refuses_them_and_keeps_knoras(webhook):
    integration = Integration.objects.get(id=webhook["id"])
    old_secret = "whsec_Zm9v-bar_baz-not-base64_at-all_0123456789ab"
    integration.credentials = {"signing_secret": old_secret}
    integration.save()
    path = receive_path(webhook["id"])
    headers = {
        "webhook-id": "msg_x",
        "webhook-timestamp": str(int(datetime.now(tz=UTC).timestamp())),
        "webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode(),
    }

    assert_error(post_signed(path, DEPLOY_BODY, None, headers=headers), 403, "FORBIDDEN")
    assert post_signed(path, DEPLOY_BODY, old_secret).status_code == 202


@pytest.fixture
def timestamped_only(webhook, admin_client):
    response = admin_client.patch(
        f"/api/v1/integrations/{webhook['id']}", {"config": {"require_timestamped_signatures": True}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Integration.objects.get(id=webhook["id"]).config["require_timestamped_signatures"] is True
    return webhook


def test_require_timestamped_signatures_defaults_to_false(webhook, admin_client):
    connectors = admin_client.get("/api/v1/integrations/connectors").json()["connectors"]
    schema = next(c for c in connectors if c["type"] == "webhook")["config_schema"]
    field = next(f for f in schema if f["key"] == "require_timestamped_signatures")

    assert field["type"] == "boolean" and field["default"] is False
    assert Integration.objects.get(id=webhook["id"]).config["require_timestamped_signatures"] is False


def test_body_only_signature_is_forbidden_once_timestamped_ones_are_required(timestamped_only):
    path, secret = receive_path(timestamped_only["id"]), timestamped_only["signing_secret"]

    assert_error(post_signed(path, DEPLOY_BODY, secret), 403, "FORBIDDEN")
    assert not KnowledgeEntry.objects.exists()
    assert post_standard(path, DEPLOY_BODY, secret).status_code == 202


def test_requirement_seen_by_a_process_that_had_the_integration_cached(webhook, admin_client):
    """The receive path keeps integrations per process; turning the requirement on or off
    takes effect on the next delivery in this process too."""
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    assert post_signed(path, {"text": "before"}, secret).status_code == 202

    def require(value: bool) -> None:
        config = {"require_timestamped_signatures": value}
        assert (
            admin_client.patch(f"/api/v1/integrations/{webhook['id']}", {"config": config}, format="json").status_code
            == 200
        )

    require(True)
    assert_error(post_signed(path, {"text": "during"}, secret), 403, "FORBIDDEN")
    require(False)
    assert post_signed(path, {"text": "after"}, secret).status_code == 202
