"""Hypothesis on webhook receive: bodies, headers, signatures, content types and sizes. Never a 5xx,
never an entry or a delivery record from a bad signature, and a well-signed storable object always lands.

Bounded and derandomized (a fixed seed derived from the test), so CI runs the same examples each
time in a few seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.models import KnowledgeEntry
from tests.webhooks.helpers import receive_path, standard_headers_for
from webhooks.models import WebhookDelivery
from webhooks.signing import signature_for
from webhooks.views import MAX_BODY_BYTES, MAX_DELIVERY_KEY_LENGTH

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALID_MODES = ("knora", "standard")
BAD_MODES = (
    "knora-other-secret",
    "knora-other-body",
    "standard-other-secret",
    "standard-stale",
    "standard-future",
    "standard-other-id",
    "unsigned",
    "random-headers",
)
OTHER_SECRET = "whsec_" + "A" * 43 + "="

# What a WSGI server hands on as a header value: latin-1 text without control characters.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)
storable_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | storable_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(storable_text, children, max_size=4),
    max_leaves=12,
)
content_text = storable_text.filter(lambda text: text.strip())


@st.composite
def storable_objects(draw) -> bytes:
    """A JSON object the hub must store: non-empty text, anything storable beside it."""
    payload = draw(st.dictionaries(storable_text, json_values, max_size=5))
    payload[draw(st.sampled_from(["text", "body", "content"]))] = draw(content_text)
    return json.dumps(payload, ensure_ascii=draw(st.booleans())).encode()


FRAGMENTS = [
    b'{"text": "lone \\udfff"}',
    b'{"text": "nul \\u0000"}',
    b'{"text": "x", "n": 1e400}',
    b'{"text": "x", "n": NaN}',
    b'{"text": "x", "timestamp": "9999-12-31T23:59:59-10:00"}',
    b'{"text": "x", "timestamp": "0001-01-01T00:00:00+14:00"}',
    b'{"text": "\xff\xfe not utf-8"}',
    b"\xef\xbb\xbf{}",
    b'{"text": "x", "m": ' + b"[" * 500 + b"]" * 500 + b"}",
    b"[" * 5000,
    b"",
    b"null",
    b'"text"',
    b'{"text": "x"',
]
hostile_bodies = (
    st.sampled_from(FRAGMENTS) | st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
)


@st.composite
def sized_bodies(draw) -> bytes:
    """Bodies at and around the size limit."""
    size = draw(st.sampled_from([MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, 2 * MAX_BODY_BYTES]))
    skeleton = b'{"text": ""}'
    return b'{"text": "' + b"y" * (size - len(skeleton)) + b'"}'


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=zz",
        "application/json; charset=utf-16",
    ]
) | header_text.map(lambda text: text.strip())
signature_headers = st.dictionaries(
    st.sampled_from(["X-Knora-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "Idempotency-Key"]),
    header_text | st.sampled_from(["sha256=" + "0" * 64, "v1,AAAA", "v1," + "A" * 43 + "=", "1700000000", " "]),
)


@st.composite
def deliveries(draw, modes: tuple[str, ...]):
    mode = draw(st.sampled_from(modes))
    kind = draw(st.sampled_from(["storable", "hostile", "sized"]))
    body = {"storable": storable_objects, "hostile": lambda: hostile_bodies, "sized": sized_bodies}[kind]()
    return (
        mode,
        kind,
        draw(body),
        draw(st.sampled_from(["application/json"]) | content_types),
        draw(st.none() | header_text),  # Idempotency-Key
        draw(st.from_regex(r"[\x21-\x7e]{1,40}", fullmatch=True)),  # webhook-id
        draw(signature_headers),
    )


def signed_headers(mode: str, secret: str, raw: bytes, msg_id: str, extra: dict[str, str]) -> dict[str, str]:
    now = datetime.now(tz=UTC)
    if mode == "knora":
        return {"X-Knora-Signature": signature_for(secret, raw)}
    if mode == "knora-other-secret":
        return {"X-Knora-Signature": signature_for(OTHER_SECRET, raw)}
    if mode == "knora-other-body":
        return {"X-Knora-Signature": signature_for(secret, raw + b" ")}
    if mode == "unsigned":
        return {}
    if mode == "random-headers":
        return extra
    try:
        raw.decode()
    except UnicodeDecodeError:
        # The reference sender signs text only; such a body is sent with made-up headers instead.
        return {**extra, "webhook-signature": "v1," + "A" * 43 + "="}
    sign_secret = OTHER_SECRET if mode == "standard-other-secret" else secret
    timestamp = {"standard-stale": now - timedelta(seconds=400), "standard-future": now + timedelta(seconds=400)}
    headers = standard_headers_for(sign_secret, raw, msg_id=msg_id, timestamp=timestamp.get(mode, now))
    if mode == "standard-other-id":
        headers["webhook-id"] = msg_id + "x"
    return headers


def delivered(path: str, secret: str, delivery):
    mode, kind, raw, content_type, idempotency_key, msg_id, extra = delivery
    headers = signed_headers(mode, secret, raw, msg_id, extra)
    if idempotency_key is not None and mode != "random-headers":
        headers["Idempotency-Key"] = idempotency_key
    response = Client().generic(
        "POST", path, raw, content_type=content_type, headers=headers, CONTENT_TYPE=content_type
    )
    assert response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    return response


def test_well_signed_deliveries_never_fail_and_storable_objects_always_land(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]

    @FUZZ
    @given(deliveries(VALID_MODES))
    def check(delivery) -> None:
        mode, kind, _, content_type, idempotency_key, _, _ = delivery
        response = delivered(path, secret, delivery)

        assert response.status_code in (200, 202, 400, 403, 413, 415), response.content[:300]
        if kind == "storable" and content_type == "application/json":
            too_long = idempotency_key is not None and len(idempotency_key.strip()) > MAX_DELIVERY_KEY_LENGTH
            expected = {400} if too_long and mode == "knora" else {200, 202}
            assert response.status_code in expected, response.content[:300]

    check()


def test_badly_signed_deliveries_are_refused_and_store_nothing(webhook):
    path, secret = receive_path(webhook["id"]), webhook["signing_secret"]

    @FUZZ
    @given(deliveries(BAD_MODES))
    def check(delivery) -> None:
        before = (KnowledgeEntry.objects.count(), WebhookDelivery.objects.count())
        response = delivered(path, secret, delivery)

        assert response.status_code in (400, 403, 413), response.content[:300]
        assert (KnowledgeEntry.objects.count(), WebhookDelivery.objects.count()) == before

    check()
