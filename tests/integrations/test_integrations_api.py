"""The Integrations API: registry, CRUD, roles, plan gating, subscription, isolation, health, preview."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from hub.models import Role
from integrations.models import Integration, IntegrationStatus, KnowledgeEntry, SyncJob

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"
# Knora's fields, in Knora's order, then ours beside them (the schedule).
KNORA_INTEGRATION_FIELDS = [
    "id",
    "org_id",
    "type",
    "name",
    "status",
    "last_sync_at",
    "created_by",
    "created_at",
    "updated_at",
]
OUR_INTEGRATION_FIELDS = ["sync_interval_minutes", "run_after_sources", "sources"]
INTEGRATION_FIELDS = set(KNORA_INTEGRATION_FIELDS + OUR_INTEGRATION_FIELDS)


def error_code(response) -> str:
    return response.json()["error"]["code"]


def create_webhook(client, name="Deploys") -> dict:
    response = client.post(BASE, {"type": "webhook", "name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_connector_registry_shows_the_webhook_connector_as_knora_does(admin_client):
    response = admin_client.get(BASE + "connectors")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == len(body["connectors"]) >= 1
    webhook = next(c for c in body["connectors"] if c["type"] == "webhook")
    assert {
        "type",
        "display_name",
        "description",
        "icon",
        "data_description",
        "auth_type",
        "auth_flow",
        "provider",
        "config_schema",
    } <= set(webhook)
    assert webhook["auth_flow"] == "api_key" and webhook["provider"] is None
    for config_field in webhook["config_schema"]:
        assert set(config_field) == {
            "key",
            "label",
            "type",
            "required",
            "placeholder",
            "help_text",
            "default",
            "options",
        }
        assert config_field["type"] in {"text", "password", "select", "boolean", "number"}


def test_create_webhook_shows_secret_once_and_lists_without_it(admin_client, org):
    created = create_webhook(admin_client)
    assert INTEGRATION_FIELDS <= set(created)
    assert created["org_id"] == str(org.id) and created["status"] == "active"
    assert created["signing_secret"].startswith("whsec_")
    assert created["webhook_url"].endswith(f"/api/v1/integrations/webhook/{created['id']}/receive")
    listed = admin_client.get(BASE).json()
    assert listed["total"] == 1
    assert list(listed["integrations"][0]) == KNORA_INTEGRATION_FIELDS + OUR_INTEGRATION_FIELDS
    assert created["signing_secret"] not in str(listed)
    raw = Integration.objects.values_list("credentials_sealed", flat=True).get(id=created["id"])
    assert created["signing_secret"] not in raw


def test_base_path_answers_with_and_without_trailing_slash(admin_client):
    create_webhook(admin_client)
    assert admin_client.get("/api/v1/integrations").json()["total"] == 1
    response = admin_client.post("/api/v1/integrations", {"type": "webhook", "name": "Two"}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "type"),
        ({"type": "webhook"}, "name"),
        ({"type": "webhook", "name": ""}, "name"),
        ({"type": "webhook", "name": "x" * 256}, "name"),
        ({"type": "nope", "name": "x"}, "type"),
        ({"type": "webhook", "name": "x", "config": "not-an-object"}, "config"),
        ({"type": "webhook", "name": "x", "config": {"unknown_key": 1}}, "config.unknown_key"),
        ({"type": "webhook", "name": "x", "config": {"source_label": 5}}, "config.source_label"),
    ],
)
def test_create_rejects_bad_bodies_with_field_details(admin_client, body, field):
    response = admin_client.post(BASE, body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]
    assert Integration.objects.count() == 0


def test_plan_limit_blocks_create_with_plan_upgrade_required(make_org, make_member, client_for):
    free = make_org("Tiny", plan="free")
    client = client_for(make_member(free, Role.ADMIN))
    create_webhook(client)
    response = client.post(BASE, {"type": "webhook", "name": "Second"}, format="json")
    assert response.status_code == 403 and error_code(response) == "PLAN_UPGRADE_REQUIRED"
    assert Integration.objects.filter(organisation=free).count() == 1


def test_role_check_runs_before_the_plan_limit(make_org, make_member, client_for):
    free = make_org("Tiny", plan="free")
    create_webhook(client_for(make_member(free, Role.ADMIN)))
    manager = client_for(make_member(free, Role.MANAGER))
    response = manager.post(BASE, {"type": "webhook", "name": "Second"}, format="json")
    assert response.status_code == 403 and error_code(response) == "INSUFFICIENT_ROLE"


def test_enterprise_plan_has_no_limit(make_org, make_member, client_for):
    client = client_for(make_member(make_org("Big", plan="enterprise"), Role.ADMIN))
    for n in range(30):
        create_webhook(client, name=f"Hook {n}")
    assert client.get(BASE).json()["total"] == 30


def test_finalising_a_pending_integration_does_not_count_against_the_plan(make_org, make_member, client_for):
    free = make_org("Tiny", plan="free")
    admin = make_member(free, Role.ADMIN)
    # A pending record is finalisable only within its OAuth state's window (issue 10).
    pending = Integration.objects.create(
        organisation=free,
        type="webhook",
        name="Pending",
        is_pending=True,
        pending_until=timezone.now() + timedelta(minutes=5),
        status=IntegrationStatus.INACTIVE,
    )
    body = {"type": "webhook", "name": "Finalised", "pending_integration_id": str(pending.id)}
    response = client_for(admin).post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    pending.refresh_from_db()
    assert response.json()["id"] == str(pending.id)
    assert not pending.is_pending and pending.status == "active" and pending.name == "Finalised"


def test_finalising_another_orgs_pending_integration_is_404(make_org, make_member, client_for):
    theirs = Integration.objects.create(
        organisation=make_org("Theirs"),
        type="webhook",
        name="P",
        is_pending=True,
        pending_until=timezone.now() + timedelta(minutes=5),
    )
    client = client_for(make_member(make_org("Mine"), Role.ADMIN))
    body = {"type": "webhook", "name": "x", "pending_integration_id": str(theirs.id)}
    response = client.post(BASE, body, format="json")
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"


@pytest.mark.parametrize("status", ["past_due", "canceled"])
def test_inactive_subscription_blocks_create_and_sync_but_not_reads(make_org, make_member, client_for, status):
    organisation = make_org("Lapsed", status="active")
    client = client_for(make_member(organisation, Role.ADMIN))
    integration_id = create_webhook(client)["id"]
    organisation.subscription_status = status
    organisation.save()
    for response in (
        client.post(BASE, {"type": "webhook", "name": "x"}, format="json"),
        client.post(f"{BASE}{integration_id}/sync"),
    ):
        assert response.status_code == 402 and error_code(response) == "SUBSCRIPTION_REQUIRED"
    assert client.get(BASE).status_code == 200
    assert client.get(f"{BASE}{integration_id}/history").status_code == 200
    assert client.get(f"{BASE}{integration_id}/health").status_code == 200


def test_expired_trial_is_payment_required(make_org, make_member, client_for):
    client = client_for(make_member(make_org("Trial", status="trialing", trial_days=-1), Role.ADMIN))
    response = client.post(BASE, {"type": "webhook", "name": "x"}, format="json")
    assert response.status_code == 402


def test_delete_cascades_history_and_entries(admin_client, org):
    integration_id = create_webhook(admin_client)["id"]
    integration = Integration.objects.get(id=integration_id)
    SyncJob.objects.create(organisation=org, integration=integration, status="completed")
    KnowledgeEntry.objects.create(organisation=org, integration=integration, external_id="e1", title="t")
    response = admin_client.delete(f"{BASE}{integration_id}")
    assert response.status_code == 204 and response.content == b""
    assert not SyncJob.objects.exists() and not KnowledgeEntry.objects.exists()
    assert admin_client.delete(f"{BASE}{integration_id}").status_code == 404


def test_patch_renames_and_revalidates_config(admin_client):
    integration_id = create_webhook(admin_client)["id"]
    response = admin_client.patch(f"{BASE}{integration_id}", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    bad = admin_client.patch(f"{BASE}{integration_id}", {"config": {"nope": 1}}, format="json")
    assert bad.status_code == 400 and "config.nope" in bad.json()["error"]["details"]
    good = admin_client.patch(f"{BASE}{integration_id}", {"config": {"source_label": "ci"}}, format="json")
    assert good.status_code == 200
    assert Integration.objects.get(id=integration_id).config == {
        "source_label": "ci",
        "require_timestamped_signatures": False,
    }


def test_health_reports_the_stored_status(admin_client):
    integration_id = create_webhook(admin_client)["id"]
    body = admin_client.get(f"{BASE}{integration_id}/health").json()
    assert body["integration_id"] == integration_id and body["status"] == "active"
    assert body["healthy"] is True and body["message"] and body["checked_at"]
    Integration.objects.filter(id=integration_id).update(status="error")
    body = admin_client.get(f"{BASE}{integration_id}/health").json()
    assert body["healthy"] is False and body["status"] == "error"


def test_webhook_connection_health_is_always_healthy(admin_client):
    integration_id = create_webhook(admin_client)["id"]
    body = admin_client.get(f"{BASE}{integration_id}/connection-health").json()
    assert body["healthy"] is True and body["status"] == "active"


def test_webhook_preview_has_no_items(admin_client):
    integration_id = create_webhook(admin_client)["id"]
    body = admin_client.get(f"{BASE}{integration_id}/preview").json()
    assert body["integration_id"] == integration_id and body["connector_type"] == "webhook"
    assert body["items"] == [] and body["estimated_entries"] is None and body["summary"]
    assert body["previewed_at"]


def test_history_has_every_counter_null_until_completion(admin_client, org):
    integration_id = create_webhook(admin_client)["id"]
    integration = Integration.objects.get(id=integration_id)
    older = SyncJob.objects.create(
        organisation=org,
        integration=integration,
        status="completed",
        records_synced=3,
        records_found=3,
        records_imported=3,
        records_skipped=0,
        threads_grouped=0,
        entries_created=3,
    )
    newer = SyncJob.objects.create(organisation=org, integration=integration, status="running")
    body = admin_client.get(f"{BASE}{integration_id}/history").json()
    assert body["integration_id"] == integration_id and body["total"] == 2
    assert [job["id"] for job in body["jobs"]] == [str(newer.id), str(older.id)]
    running = body["jobs"][0]
    for counter in (
        "records_synced",
        "records_found",
        "records_imported",
        "records_skipped",
        "threads_grouped",
        "entries_created",
        "completed_at",
        "error_message",
    ):
        assert running[counter] is None
    assert body["jobs"][1]["entries_created"] == 3


# --- roles × endpoints, and tenant isolation -------------------------------------------------

ENDPOINTS = [
    # (method, path template, minimum role, expected success status)
    ("get", "connectors", Role.MANAGER, 200),
    ("get", "", Role.MANAGER, 200),
    ("post", "", Role.ADMIN, 201),
    ("patch", "{id}", Role.ADMIN, 200),
    ("delete", "{id}", Role.ADMIN, 204),
    ("get", "{id}/health", Role.MANAGER, 200),
    ("get", "{id}/connection-health", Role.MANAGER, 200),
    ("post", "{id}/sync", Role.ADMIN, 202),
    ("get", "{id}/history", Role.MANAGER, 200),
    ("get", "{id}/history/{job}", Role.MANAGER, 200),
    ("get", "{id}/preview", Role.MANAGER, 200),
]
BODIES = {("post", ""): {"type": "webhook", "name": "New"}, ("patch", "{id}"): {"name": "Renamed"}}


@pytest.fixture
def target(org):
    integration = Integration.objects.create(organisation=org, type="webhook", name="Target")
    integration.credentials = {"signing_secret": "s"}
    integration.config = {}
    integration.save()
    job = SyncJob.objects.create(organisation=org, integration=integration, status="completed")
    return integration, job


def call(client: APIClient, method: str, template: str, target) -> object:
    integration, job = target
    path = BASE + template.format(id=integration.id, job=job.id)
    return getattr(client, method)(path, BODIES.get((method, template)), format="json")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MANAGER, Role.ADMIN])
@pytest.mark.parametrize(("method", "template", "minimum", "success"), ENDPOINTS)
def test_role_table(org, make_member, client_for, target, role, method, template, minimum, success):
    response = call(client_for(make_member(org, role)), method, template, target)
    if role.rank >= minimum.rank:
        assert response.status_code == success, response.content
    else:
        assert response.status_code == 403 and error_code(response) == "INSUFFICIENT_ROLE"


@pytest.mark.parametrize(("method", "template", "minimum", "success"), ENDPOINTS)
def test_no_token_is_401_everywhere(target, method, template, minimum, success):
    response = call(APIClient(), method, template, target)
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


@pytest.mark.parametrize(("method", "template", "minimum", "success"), [e for e in ENDPOINTS if "{id}" in e[1]])
def test_another_orgs_integration_is_404_for_their_admin(
    make_org, make_member, client_for, target, method, template, minimum, success
):
    outsider = client_for(make_member(make_org("Outsiders"), Role.ADMIN))
    response = call(outsider, method, template, target)
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert Integration.objects.filter(id=target[0].id, name="Target").exists()


def test_unknown_integration_id_is_404(admin_client):
    response = admin_client.get(f"{BASE}{uuid.uuid4()}/health")
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert admin_client.get(f"{BASE}not-a-uuid/health").status_code == 404


def test_list_shows_only_the_callers_organisation(make_org, make_member, client_for):
    mine, theirs = make_org("Mine"), make_org("Theirs")
    create_webhook(client_for(make_member(theirs, Role.ADMIN)), name="Theirs")
    client = client_for(make_member(mine, Role.ADMIN))
    create_webhook(client, name="Mine")
    assert [i["name"] for i in client.get(BASE).json()["integrations"]] == ["Mine"]
