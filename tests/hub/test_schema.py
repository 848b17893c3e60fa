"""The OpenAPI schema tells the truth: real answers, errors included, conform to what /api/schema/ says."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import schemathesis
from django.core.management import call_command
from django.test import Client
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from connectors.base import Record
from hub.auth import tokens_for
from hub.models import Role
from hub.permissions import IsAdmin
from integrations.knowledge import entries_upsert
from integrations.models import Integration, SyncJob
from webhooks.signing import signature_for

pytestmark = pytest.mark.django_db
ENVELOPE = "#/components/schemas/ErrorEnvelope"


@pytest.fixture
def document() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def openapi(document):
    return schemathesis.openapi.from_dict(document)


class Served:
    """Django's test client, its answers handed to schemathesis as the HTTP response they are."""

    def open(self, url: str, *, method: str = "GET", headers=None, data: bytes | None = None) -> schemathesis.Response:
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "application/json")
        answer = Client().generic(method, url, data=data or b"", content_type=content_type, headers=headers)
        request = requests.Request(method=method, url=f"http://testserver{url}", headers=headers).prepare()
        return schemathesis.Response(
            status_code=answer.status_code,
            headers={name: [value] for name, value in answer.headers.items()},
            content=answer.content,
            request=request,
            elapsed=0.0,
            verify=False,
        )

    def get(self, url: str, headers=None) -> schemathesis.Response:
        return self.open(url, headers=headers)

    def post(self, url: str, data: bytes | None = None, headers=None) -> schemathesis.Response:
        return self.open(url, method="POST", headers=headers, data=data)


@pytest.fixture
def wsgi() -> Served:
    return Served()


@pytest.fixture
def world(org, make_member):
    admin, member = make_member(org, Role.ADMIN), make_member(org, Role.MEMBER)
    webhook = Integration(organisation=org, type="webhook", name="Deploys")
    webhook.credentials = {"signing_secret": "whsec_schema-test"}
    webhook.save()
    SyncJob.objects.create(organisation=org, integration=webhook, status="completed")
    entries_upsert(integration=webhook, records=[Record(external_id="e1", title="Deployed", content="v2.4.1 is out")])
    return {
        "admin": {"Authorization": f"Bearer {tokens_for(admin)['access']}"},
        "member": {"Authorization": f"Bearer {tokens_for(member)['access']}"},
        "anonymous": {},
        "webhook": webhook,
        "member_email": member.user.email,
    }


def assert_as_described(document, openapi, template: str, response) -> None:
    """The status is one the operation lists, and the body and Content-Type are as described."""
    method = response.request.method
    described = document["paths"][template][method.lower()]["responses"]
    assert str(response.status_code) in described, (method, template, response.status_code, list(described))
    openapi[template][method].validate_response(response)  # raises on a body or media type that differs


@pytest.mark.parametrize(
    ("template", "url", "list_key"),
    [
        ("/api/v1/integrations/", "/api/v1/integrations/", "integrations"),
        ("/api/v1/integrations/connectors", "/api/v1/integrations/connectors", "connectors"),
        ("/api/v1/integrations/{integration_id}/history", "/api/v1/integrations/{id}/history", "jobs"),
        ("/api/v1/knowledge/entries", "/api/v1/knowledge/entries", "results"),
    ],
)
def test_wrapped_lists_are_described_as_the_objects_they_are(document, openapi, wsgi, world, template, url, list_key):
    response = wsgi.get(url.format(id=world["webhook"].id), headers=world["admin"])
    assert response.status_code == 200
    assert response.json()[list_key]  # a non-empty list inside an object, as the schema now says
    assert_as_described(document, openapi, template, response)


@pytest.mark.parametrize(
    ("role", "method", "template", "url", "body", "status"),
    [
        ("anonymous", "GET", "/api/v1/integrations/", "/api/v1/integrations/", None, 401),
        ("member", "GET", "/api/v1/integrations/", "/api/v1/integrations/", None, 403),
        (
            "admin",
            "GET",
            "/api/v1/integrations/{integration_id}/health",
            "/api/v1/integrations/{other}/health",
            None,
            404,
        ),
        ("admin", "POST", "/api/v1/integrations/", "/api/v1/integrations/", b"{not json", 400),
        ("admin", "POST", "/api/v1/integrations/", "/api/v1/integrations/", "text", 415),
        ("admin", "GET", "/api/v1/knowledge/entries", "/api/v1/knowledge/entries?cursor=bad", None, 404),
        ("admin", "GET", "/api/v1/knowledge/entries", "/api/v1/knowledge/entries?integration=x", None, 400),
        ("admin", "GET", "/api/v1/integrations/oauth/start", "/api/v1/integrations/oauth/start", None, 400),
        (
            "admin",
            "GET",
            "/api/v1/integrations/{integration_id}/actions",
            "/api/v1/integrations/{id}/actions",
            None,
            400,
        ),
        ("anonymous", "POST", "/api/v1/auth/token", "/api/v1/auth/token", b'{"email": "a@b.co", "password": "x"}', 401),
        ("anonymous", "POST", "/api/v1/auth/token", "/api/v1/auth/token", "login elsewhere", 403),
        ("anonymous", "POST", "/api/v1/auth/token/refresh", "/api/v1/auth/token/refresh", b'{"refresh": "x"}', 401),
    ],
)
def test_error_answers_are_described_in_the_one_envelope(
    document, openapi, wsgi, world, role, method, template, url, body, status
):
    url = url.format(id=world["webhook"].id, other=uuid.uuid4())
    if body == "login elsewhere":
        body = json.dumps({"email": world["member_email"], "password": "pw-1234567", "org_id": str(uuid.uuid4())})
        body = body.encode()
    headers = dict(world[role])
    if body == "text":
        body, headers["Content-Type"] = b"name=x", "text/plain"
    elif body is not None:
        headers["Content-Type"] = "application/json"
    response = wsgi.open(url, method=method, headers=headers, data=body)
    assert response.status_code == status, response.content
    assert set(response.json()) == {"error"} and response.json()["error"]["code"]
    assert_as_described(document, openapi, template, response)


def test_an_inactive_subscription_is_a_described_402(document, openapi, wsgi, make_org, make_member):
    lapsed = make_org("Lapsed", status="past_due")
    admin = {"Authorization": f"Bearer {tokens_for(make_member(lapsed, Role.ADMIN))['access']}"}
    integration = Integration.objects.create(organisation=lapsed, type="webhook", name="Hook")
    response = wsgi.post(f"/api/v1/integrations/{integration.id}/sync", headers=admin)
    assert response.status_code == 402
    assert_as_described(document, openapi, "/api/v1/integrations/{integration_id}/sync", response)


def test_every_error_answer_is_the_envelope_component(document):
    operations = [(p, m, op) for p, item in document["paths"].items() for m, op in item.items()]
    assert len(operations) >= 20
    for path_, method, operation in operations:
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": ENVELOPE}, (path_, method)
                assert response["description"], (path_, method, status)
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message"} and "details" in error["properties"]
    assert "OAUTH_CONFIG_ERROR" in document["components"]["schemas"]["ErrorCodeEnum"]["enum"]


@pytest.mark.parametrize(
    ("method", "template", "statuses"),
    [
        ("get", "/api/v1/integrations/", {"200", "401", "403", "406"}),
        ("post", "/api/v1/integrations/", {"201", "400", "401", "402", "403", "404", "406", "413", "415", "502"}),
        ("patch", "/api/v1/integrations/{integration_id}", {"200", "400", "401", "403", "404", "413", "415", "502"}),
        ("delete", "/api/v1/integrations/{integration_id}", {"204", "401", "403", "404"}),
        ("post", "/api/v1/integrations/{integration_id}/sync", {"202", "401", "402", "403", "404"}),
        ("get", "/api/v1/integrations/{integration_id}/preview", {"200", "401", "403", "404", "502"}),
        ("get", "/api/v1/integrations/oauth/start", {"200", "400", "401", "402", "403", "500"}),
        ("post", "/api/v1/integrations/{integration_id}/actions/{action}", {"200", "402", "409", "429", "502"}),
        ("get", "/api/v1/knowledge/entries", {"200", "400", "401", "403", "404"}),
        ("post", "/api/v1/auth/token", {"200", "400", "401", "403", "413", "415", "429"}),
    ],
)
def test_each_operation_lists_the_statuses_it_can_answer(document, method, template, statuses):
    described = set(document["paths"][template][method]["responses"])
    assert statuses <= described, statuses - described
    # Without a body there is nothing to parse: no 400/413/415 from the parser on a sync.
    if template.endswith("/sync"):
        assert not {"413", "415"} & described


def test_webhook_receive_is_described_and_a_signed_delivery_conforms(document, openapi, wsgi, world):
    template = "/api/v1/integrations/webhook/{integration_id}/receive"
    operation = document["paths"][template]["post"]
    assert operation["security"] == []
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"X-Knora-Signature", "webhook-id", "webhook-timestamp", "webhook-signature"} <= headers
    assert {"200", "202", "400", "403", "404", "413", "415", "429"} <= set(operation["responses"])

    body = json.dumps({"text": "Deployment completed for v2.4.1"}).encode()
    signed = {"Content-Type": "application/json", "X-Knora-Signature": signature_for("whsec_schema-test", body)}
    url = template.format(integration_id=world["webhook"].id)
    accepted = wsgi.post(url, data=body, headers=signed)
    assert accepted.status_code == 202
    assert_as_described(document, openapi, template, accepted)
    forged = wsgi.post(url, data=body, headers={**signed, "X-Knora-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 403
    assert_as_described(document, openapi, template, forged)


def test_oauth_callback_is_described_as_the_html_page_it_is(document, openapi, wsgi):
    template = "/api/v1/integrations/oauth/callback"
    operation = document["paths"][template]["get"]
    assert operation["security"] == [] and list(operation["responses"]) == ["200"]
    response = wsgi.get(template + "?state=forged&code=x")
    assert response.status_code == 200 and response.headers["content-type"][0].startswith("text/html")
    assert_as_described(document, openapi, template, response)


class _RotateInput(serializers.Serializer):
    reason = serializers.CharField()


class _ThrottledThing(APIView):
    """A view whose decorator names no error: they come from what DRF will do with it."""

    permission_classes = [IsAdmin]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=_RotateInput, responses={200: _RotateInput})
    def post(self, request, thing_id):
        return Response({})


def test_a_new_drf_view_gets_its_error_answers_without_a_decorator(settings):
    from hub.schema import TributarySchemaGenerator

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "5/min"}}
    generator = TributarySchemaGenerator(
        patterns=[path("api/v1/things/<uuid:thing_id>/rotate", _ThrottledThing.as_view())]
    )
    operation = generator.get_schema(public=True)["paths"]["/api/v1/things/{thing_id}/rotate"]["post"]
    assert {"400", "401", "403", "404", "406", "413", "415", "429"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_schema_generation_is_warning_free(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
