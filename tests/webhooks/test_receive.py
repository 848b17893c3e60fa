"""POST /api/v1/integrations/webhook/<id>/receive: signature, size, parsing, tenancy and idempotency."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client

from integrations.models import Integration, KnowledgeEntry
from tests.webhooks.helpers import DEPLOY_BODY, assert_error, post_signed, post_standard, receive_path
from webhooks.models import WebhookDelivery
from webhooks.signing import signature_for
from webhooks.views import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db


def test_signed_payload_is_accepted_as_an_entry_of_the_integrations_org(webhook, org):
    response = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, webhook["signing_secret"])

    assert response.status_code == 202, response.content
    body = response.json()
    entry = KnowledgeEntry.objects.get()
    assert body == {
        "integration_id": webhook["id"],
        "accepted": True,
        "entry_id": str(entry.id),
        "message": "Payload accepted.",
    }
    assert entry.organisation_id == org.id
    assert str(entry.integration_id) == webhook["id"]
    assert entry.content == "Deployment pipeline completed successfully for release v2.4.1."
    assert entry.metadata["source"] == "ci-system"
    assert webhook["signing_secret"] not in response.content.decode()


def test_webhook_url_from_the_create_answer_is_the_receive_route(webhook):
    assert webhook["webhook_url"].endswith(receive_path(webhook["id"]))


@pytest.mark.parametrize("key", ["body", "content"])
def test_body_and_content_keys_are_accepted_too(webhook, key):
    response = post_signed(receive_path(webhook["id"]), {key: "Release notes"}, webhook["signing_secret"])

    assert response.status_code == 202, response.content
    assert KnowledgeEntry.objects.get(id=response.json()["entry_id"]).content == "Release notes"


@pytest.mark.parametrize("payload", [{"text": ""}, {"text": "   \n"}, {"source": "ci"}, {"text": 42, "body": None}, {}])
def test_payload_without_text_is_answered_not_accepted_and_stores_nothing(webhook, payload):
    response = post_signed(receive_path(webhook["id"]), payload, webhook["signing_secret"])

    assert response.status_code == 200, response.content
    assert response.json() == {
        "integration_id": webhook["id"],
        "accepted": False,
        "entry_id": None,
        "message": "Payload did not contain processable content.",
    }
    assert not KnowledgeEntry.objects.exists()


def test_identical_body_without_key_updates_the_same_entry(webhook):
    first = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, webhook["signing_secret"])
    second = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, webhook["signing_secret"])

    assert first.status_code == second.status_code == 202
    assert first.json()["entry_id"] == second.json()["entry_id"]
    assert KnowledgeEntry.objects.count() == 1


@pytest.mark.parametrize(
    "signature_of",
    ["another secret", "another body"],
)
def test_wrong_signature_is_forbidden_and_writes_nothing(webhook, signature_of):
    secret = webhook["signing_secret"]
    signature = (
        signature_for("whsec_not-the-secret", DEPLOY_BODY)
        if signature_of == "another secret"
        else signature_for(secret, DEPLOY_BODY + b" ")
    )
    response = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, None, headers={"X-Knora-Signature": signature})

    assert_error(response, 403, "FORBIDDEN")
    assert not KnowledgeEntry.objects.exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "a" * 64,  # no prefix
        "sha256=" + "a" * 63,  # too short
        "sha256=" + "a" * 65,  # too long
        "sha256=" + "g" * 64,  # not hex
        "sha1=" + "a" * 40,
        "sha256:" + "a" * 64,
    ],
    ids=["missing", "empty", "no-prefix", "short", "long", "non-hex", "sha1", "colon"],
)
def test_missing_or_malformed_signature_header_is_a_validation_error(webhook, header):
    headers = {} if header is None else {"X-Knora-Signature": header}
    response = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, None, headers=headers)

    assert_error(response, 400, "VALIDATION_ERROR")
    assert not KnowledgeEntry.objects.exists()


def test_signature_hex_is_case_insensitive(webhook):
    signature = signature_for(webhook["signing_secret"], DEPLOY_BODY)
    upper = "sha256=" + signature.removeprefix("sha256=").upper()
    response = post_signed(receive_path(webhook["id"]), DEPLOY_BODY, None, headers={"X-Knora-Signature": upper})

    assert response.status_code == 202, response.content


def padded_body(size: int) -> bytes:
    """A JSON object with text of exactly `size` bytes."""
    skeleton = b'{"text": "x"}'
    return b'{"text": "' + b"x" * (size - len(skeleton) + 1) + b'"}'


def test_body_of_exactly_one_mib_is_accepted(webhook):
    body = padded_body(MAX_BODY_BYTES)
    assert len(body) == MAX_BODY_BYTES
    response = post_signed(receive_path(webhook["id"]), body, webhook["signing_secret"])

    assert response.status_code == 202, response.content


def test_body_over_one_mib_is_too_large(webhook):
    body = padded_body(MAX_BODY_BYTES + 1)
    response = post_signed(receive_path(webhook["id"]), body, webhook["signing_secret"])

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not KnowledgeEntry.objects.exists()


def test_declared_length_over_the_limit_is_refused_before_the_signature(webhook):
    # A lying large Content-Length is answered from the header alone, unsigned or not.
    response = post_signed(receive_path(webhook["id"]), b"{}", None, CONTENT_LENGTH=str(10 * MAX_BODY_BYTES))

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_declared_length_under_the_true_size_reads_only_what_was_declared(webhook):
    # The server reads what Content-Length declares; the truncated body no longer matches.
    body = padded_body(MAX_BODY_BYTES + 1)
    response = post_signed(receive_path(webhook["id"]), body, webhook["signing_secret"], CONTENT_LENGTH="10")

    assert_error(response, 403, "FORBIDDEN")
    assert not KnowledgeEntry.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"[1, 2]",
        b'[{"text": "in an array"}]',
        b"42",
        b'"text"',
        b"null",
        b'{"text": ',
        b"",
        b"NaN",
        b'{"text": "ok", "score": NaN}',
        b'{"text": "ok", "score": Infinity}',
        b'{"text": "\xff\xfe broken utf-8"}',
        b'{"text": "nul \\u0000 inside"}',
        b'{"text": "ok", "meta": {"k\\u0000": 1}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "array",
        "array-of-object",
        "number",
        "string",
        "null",
        "truncated",
        "empty",
        "nan",
        "nan-inside",
        "infinity-inside",
        "not-utf8",
        "nul-in-text",
        "nul-in-key",
        "deep-nesting",
    ],
)
def test_body_that_is_not_a_storable_json_object_is_a_validation_error(webhook, raw):
    response = post_signed(receive_path(webhook["id"]), raw, webhook["signing_secret"])

    assert_error(response, 400, "VALIDATION_ERROR")
    assert not KnowledgeEntry.objects.exists()


def test_escaped_backslash_before_u0000_is_not_mistaken_for_nul(webhook):
    response = post_signed(receive_path(webhook["id"]), b'{"text": "path C:\\\\u0000"}', webhook["signing_secret"])

    assert response.status_code == 202, response.content
    assert KnowledgeEntry.objects.get().content == "path C:\\u0000"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_content_type_is_unsupported_once_the_signature_matches(webhook, content_type):
    response = post_signed(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        webhook["signing_secret"],
        content_type=content_type,
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert not KnowledgeEntry.objects.exists()


def test_unsigned_request_with_other_content_type_learns_only_the_signature_failure(webhook):
    response = post_signed(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        None,
        content_type="text/plain",
        headers={"X-Knora-Signature": "sha256=" + "0" * 64},
    )

    assert_error(response, 403, "FORBIDDEN")


def test_json_content_type_with_charset_is_accepted(webhook):
    response = post_signed(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        webhook["signing_secret"],
        content_type="application/json; charset=utf-8",
    )

    assert response.status_code == 202, response.content


def test_unknown_and_non_webhook_integrations_get_the_same_404(webhook, org):
    haiilo = Integration(organisation=org, type="haiilo", name="Intranet")
    haiilo.credentials = {"signing_secret": "whsec_same-shape"}
    haiilo.save()

    unknown = post_signed(receive_path(uuid.uuid4()), DEPLOY_BODY, webhook["signing_secret"])
    other_type = post_signed(receive_path(haiilo.id), DEPLOY_BODY, "whsec_same-shape")

    assert_error(unknown, 404, "NOT_FOUND")
    assert_error(other_type, 404, "NOT_FOUND")
    assert unknown.json() == other_type.json()
    assert not KnowledgeEntry.objects.exists()


def test_malformed_integration_id_is_a_404_in_the_envelope():
    response = post_signed("/api/v1/integrations/webhook/not-a-uuid/receive", DEPLOY_BODY, "whsec_x")

    assert_error(response, 404, "NOT_FOUND")


def test_other_methods_are_not_allowed(webhook):
    response = Client().get(receive_path(webhook["id"]))

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"


def test_organisation_comes_from_the_integration_record(webhook, org, make_org, make_member, client_for):
    other_org = make_org(name="Globex")
    other_client = client_for(make_member(other_org))
    created = other_client.post("/api/v1/integrations/", {"type": "webhook", "name": "Theirs"}, format="json")
    assert created.status_code == 201, created.content
    theirs = created.json()

    response = post_signed(receive_path(theirs["id"]), DEPLOY_BODY, theirs["signing_secret"])
    # Our secret on their URL does not open it.
    crossed = post_signed(receive_path(theirs["id"]), {"text": "crossed"}, webhook["signing_secret"])

    assert response.status_code == 202, response.content
    assert_error(crossed, 403, "FORBIDDEN")
    entry = KnowledgeEntry.objects.get()
    assert entry.organisation_id == other_org.id
    assert str(entry.integration_id) == theirs["id"]
    assert not KnowledgeEntry.objects.filter(organisation=org).exists()


@pytest.mark.parametrize("header", ["Idempotency-Key", "webhook-id"])
def test_retry_with_the_same_unsigned_key_gets_the_first_answer(webhook, header):
    # With X-Knora-Signature, Idempotency-Key and webhook-id are unsigned: they pick the answer
    # replayed for a retry, but the entry is keyed by the signed body.
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    first = post_signed(path, {"text": "first"}, secret, headers={header: "delivery-1"})
    first_written = KnowledgeEntry.objects.get().updated_at
    # A retry, even with another body, gets the first answer and changes nothing.
    retry = post_signed(path, {"text": "second"}, secret, headers={header: "delivery-1"})
    other = post_signed(path, {"text": "first"}, secret, headers={header: "delivery-2"})

    assert first.status_code == retry.status_code == other.status_code == 202
    assert retry.json() == first.json()
    assert other.json()["entry_id"] == first.json()["entry_id"]
    assert KnowledgeEntry.objects.count() == 1
    # The retry's own upsert was rolled back with its refused delivery row.
    entry = KnowledgeEntry.objects.get(id=first.json()["entry_id"])
    assert entry.content == "first"
    assert entry.updated_at == first_written
    assert WebhookDelivery.objects.count() == 2


def test_captured_delivery_replayed_with_fresh_idempotency_keys_makes_one_entry(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    captured = {"X-Knora-Signature": signature_for(secret, DEPLOY_BODY), "Idempotency-Key": "original"}
    first = post_signed(path, DEPLOY_BODY, None, headers=captured)
    replays = [
        post_signed(path, DEPLOY_BODY, None, headers={**captured, header: f"fresh-{n}"})
        for n, header in enumerate(["Idempotency-Key"] * 5 + ["webhook-id"] * 5)
    ]

    assert first.status_code == 202, first.content
    assert {r.status_code for r in replays} == {202}
    assert {r.json()["entry_id"] for r in replays} == {first.json()["entry_id"]}
    assert KnowledgeEntry.objects.count() == 1
    assert KnowledgeEntry.objects.get().external_id.startswith("sha256:")


def test_unsigned_key_cannot_take_a_signed_webhook_id_before_its_sender(webhook):
    """An unsigned key is recorded in its own namespace, so a caller replaying a captured
    body-only delivery with `Idempotency-Key: msg_next` cannot answer for the real msg_next."""
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    squatter = post_signed(path, DEPLOY_BODY, secret, headers={"Idempotency-Key": "msg_next"})
    real = post_standard(path, {"text": "the real msg_next"}, secret, msg_id="msg_next")

    assert squatter.status_code == real.status_code == 202, real.content
    assert real.json()["entry_id"] != squatter.json()["entry_id"]
    assert KnowledgeEntry.objects.get(id=real.json()["entry_id"]).content == "the real msg_next"


def test_retry_of_a_delivery_that_was_not_accepted_is_not_accepted_again(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    first = post_signed(path, {"text": ""}, secret, headers={"Idempotency-Key": "empty-1"})
    retry = post_signed(path, {"text": "now with text"}, secret, headers={"Idempotency-Key": "empty-1"})

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert not KnowledgeEntry.objects.exists()


def test_delivery_key_longer_than_255_characters_is_a_validation_error(webhook):
    response = post_signed(
        receive_path(webhook["id"]),
        DEPLOY_BODY,
        webhook["signing_secret"],
        headers={"Idempotency-Key": "k" * 256},
    )

    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_with_one_key_make_one_entry(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    start = threading.Barrier(6)
    responses: list = []

    def deliver(number: int) -> None:
        try:
            start.wait()
            responses.append(post_signed(path, {"text": f"copy {number}"}, secret, headers={"webhook-id": "same"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(responses) == 6
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["entry_id"] for r in responses}) == 1
    assert KnowledgeEntry.objects.count() == 1
    assert WebhookDelivery.objects.count() == 1


def test_signing_secret_is_sealed_in_the_database(webhook):
    sealed = Integration.objects.values_list("credentials_sealed", flat=True).get(id=webhook["id"])

    assert sealed.startswith("tb1:")
    assert webhook["signing_secret"] not in sealed
    assert webhook["signing_secret"].removeprefix("whsec_") not in sealed


def test_signing_secret_is_never_logged(webhook, caplog):
    caplog.set_level(logging.DEBUG)
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    post_signed(path, DEPLOY_BODY, secret)
    post_signed(
        path,
        DEPLOY_BODY,
        None,
        headers={"X-Knora-Signature": signature_for("whsec_wrong", DEPLOY_BODY)},
    )

    assert caplog.records  # the mismatch is logged ...
    assert secret not in caplog.text  # ... without the secret


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's")
@pytest.mark.parametrize("scheme", ["standard", "knora"])
def test_keyed_delivery_takes_one_statement_once_the_integration_is_known_on_postgresql(webhook, scheme):
    """The hot path: entry and delivery row in one statement (no BEGIN/COMMIT); the lookup
    before it only for the first delivery a process sees for an integration."""
    from django.test.utils import CaptureQueriesContext

    from webhooks.services import delivery_key_of_unsigned

    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    statements = []
    for key in ("d-1", "d-2"):
        with CaptureQueriesContext(connection) as queries:
            if scheme == "standard":
                response = post_standard(path, {"text": f"event {key}"}, secret, msg_id=key)
            else:
                response = post_signed(path, {"text": f"event {key}"}, secret, headers={"webhook-id": key})
        assert response.status_code == 202, response.content
        statements.append(len(queries))

    assert statements == [2, 1]
    deliveries = {d.idempotency_key: d for d in WebhookDelivery.objects.all()}
    stored_key = {"standard": str, "knora": delivery_key_of_unsigned}[scheme]
    assert set(deliveries) == {stored_key("d-1"), stored_key("d-2")} and all(d.accepted for d in deliveries.values())
    assert str(deliveries[stored_key("d-2")].entry_id) == response.json()["entry_id"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("headers", [{}, {"webhook-id": "after-delete"}])
def test_delivery_to_an_integration_deleted_after_it_was_known_is_a_404(webhook, admin_client, headers):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    assert post_signed(path, {"text": "before"}, secret).status_code == 202
    assert admin_client.delete(f"/api/v1/integrations/{webhook['id']}").status_code == 204

    response = post_signed(path, {"text": "after"}, secret, headers=headers)

    assert_error(response, 404, "NOT_FOUND")
    assert not KnowledgeEntry.objects.exists() and not WebhookDelivery.objects.exists()
    assert_error(post_signed(path, {"text": "again"}, secret, headers=headers), 404, "NOT_FOUND")


def _prepared_statements() -> dict[str, tuple[str, int]]:
    """This connection's prepared statements by name: their SQL and how often each has run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return {name: (statement, runs) for name, statement, runs in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's")
def test_the_hot_statement_is_prepared_once_per_connection_on_postgresql(webhook):
    """The entry+delivery statement is prepared on the connection, so PostgreSQL stops parsing and
    planning it per delivery: every delivery runs that one prepared statement, every delivery is
    still stored, and nothing else gets prepared."""
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    before = _prepared_statements()
    for n in range(8):
        response = post_signed(path, {"text": f"event {n}"}, secret, headers={"webhook-id": f"p-{n}"})
        assert response.status_code == 202, response.content

    after = _prepared_statements()
    ran = {name: runs - before.get(name, ("", 0))[1] for name, (_, runs) in after.items()}
    assert len(after.keys() - before.keys()) <= 1  # prepared at most once, by the first delivery
    assert sorted(ran.values()) == [0] * (len(after) - 1) + [8]  # and that one statement ran them all
    assert all(statement.startswith("WITH entry AS (INSERT INTO") for statement, _ in after.values())
    assert WebhookDelivery.objects.count() == 8 and KnowledgeEntry.objects.count() == 8


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's")
def test_the_prepared_statement_is_in_djangos_query_log_with_its_parameters_on_postgresql(webhook):
    """Prepared or not, Django's query log (CaptureQueriesContext, connection.queries under DEBUG)
    shows the statement's SQL with its parameters bound, as it shows every other statement."""
    from django.test.utils import CaptureQueriesContext

    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]
    for key in ("log-1", "log-2"):  # the second runs the statement prepared by the first
        with CaptureQueriesContext(connection) as queries:
            response = post_signed(path, {"text": f"logged {key}"}, secret, headers={"webhook-id": key})
        assert response.status_code == 202, response.content
        [sql] = [q["sql"] for q in queries if q["sql"] and q["sql"].startswith("WITH entry AS (INSERT INTO")]
        assert f"'logged {key}'" in sql and f"'{uuid.UUID(webhook['id']).hex}'::uuid" in sql
        assert "%s" not in sql and "$1" not in sql
    # What was logged is the prepared statement, up to its first parameter.
    [statement] = {statement for statement, _ in _prepared_statements().values()}
    assert sql.startswith(statement[: statement.index("$1")])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's")
def test_a_key_delivered_before_fails_the_prepared_statement_with_djangos_integrity_error_on_postgresql(webhook):
    """The preparing cursor is wrapped as Django wraps its own: a repeated delivery key is Django's
    IntegrityError (what the receive path catches), the transaction stays usable, and the failed
    statement is logged with its SQL too."""
    from django.db import IntegrityError, transaction
    from django.test.utils import CaptureQueriesContext

    from connectors.base import Record
    from webhooks.services import _entry_and_delivery_insert

    integration = Integration.objects.get(pk=webhook["id"])
    assert _entry_and_delivery_insert(integration, Record("first", "First", "first body"), "same-key") is not None
    with CaptureQueriesContext(connection) as queries, pytest.raises(IntegrityError), transaction.atomic():
        _entry_and_delivery_insert(integration, Record("second", "Second", "second body"), "same-key")

    assert any(q["sql"] and "'second body'" in q["sql"] and "'same-key'" in q["sql"] for q in queries)
    assert list(WebhookDelivery.objects.values_list("idempotency_key", flat=True)) == ["same-key"]
    assert list(KnowledgeEntry.objects.values_list("external_id", flat=True)) == ["first"]
