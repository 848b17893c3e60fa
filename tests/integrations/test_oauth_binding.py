"""A grant lands only with the browser and admin that started it: pending records, finalising, cleanup."""
# ruff: noqa: F811

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from hub.models import Membership, Role
from hub.permissions import IsAdmin
from integrations.models import Integration, IntegrationStatus, OAuthState

# The fake provider fixture is shared with test_oauth.py; pytest injects it by name (hence F811 below).
from tests.integrations.test_oauth import consent, posted_message, provider, start  # noqa: F401

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/"


def grant_consented_elsewhere(admin, org) -> str:
    """The attack: the admin starts, someone at another company consents in their own browser.

    Returns the id the callback page posted; in the attack it reaches no window of the admin's.
    """
    victim_browser = APIClient()
    message = posted_message(victim_browser.get(consent(start(admin, org).json()["auth_url"])))
    assert message["type"] == "knora:oauth:success"
    return message["integrationId"]


def finalise(admin, pending_id: str, **extra):
    body = {"type": "fakeoauth", "name": "Theirs", "pending_integration_id": pending_id, **extra}
    return admin.post(BASE, body, format="json")


def test_a_grant_consented_in_another_browser_is_not_listed(admin_client, org, provider):
    started = start(admin_client, org).json()
    state = OAuthState.objects.get()
    posted_message(APIClient().get(consent(started["auth_url"])))  # the victim's browser, no opener
    assert admin_client.get(BASE).json() == {"integrations": [], "total": 0}
    # Nothing the starter holds names the pending record: not the start's answer, not the state.
    pending = Integration.objects.get(is_pending=True)
    assert str(pending.id) not in started["auth_url"] and pending.id != state.id
    for guess in (state.id, state.organisation_id):
        assert finalise(admin_client, str(guess)).status_code == 404
    assert Integration.objects.get(id=pending.id).is_pending


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("get", "{id}/health"),
        ("get", "{id}/connection-health"),
        ("get", "{id}/preview"),
        ("post", "{id}/sync"),
        ("get", "{id}/history"),
        ("get", "{id}/actions"),
        ("post", "{id}/actions/anything"),
        ("patch", "{id}"),
        ("delete", "{id}"),
    ],
)
def test_no_endpoint_but_finalising_reaches_a_pending_grant(admin_client, org, provider, method, template):
    pending_id = grant_consented_elsewhere(admin_client, org)
    body = {"name": "Mine"} if method == "patch" else {}
    response = getattr(admin_client, method)(BASE + template.format(id=pending_id), body, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert Integration.objects.get(id=pending_id).is_pending


def test_the_knowledge_filter_treats_a_pending_grant_as_absent(admin_client, org, provider):
    pending_id = grant_consented_elsewhere(admin_client, org)
    response = admin_client.get("/api/v1/knowledge/entries", {"integration": pending_id})
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_a_pending_grant_past_the_states_window_is_not_finalised(admin_client, org, provider, client):
    message = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))
    pending = Integration.objects.get(id=message["integrationId"])
    assert pending.pending_until == OAuthState.objects.get().expires_at
    Integration.objects.filter(id=pending.id).update(pending_until=timezone.now() - timedelta(seconds=1))
    response = finalise(admin_client, message["integrationId"])
    assert response.status_code == 404 and Integration.objects.get(id=pending.id).is_pending


def test_finalising_rechecks_the_role_inside_its_transaction(
    org, make_member, client_for, provider, client, monkeypatch
):
    membership = make_member(org, Role.ADMIN)
    admin = client_for(membership)
    message = posted_message(client.get(consent(start(admin, org).json()["auth_url"])))
    passed = IsAdmin.has_permission

    def demoted_right_after_the_check(self, request, view):
        allowed = passed(self, request, view)
        # Another request demotes the admin between the permission check and the finalising transaction.
        Membership.objects.filter(id=membership.id).update(role=Role.MEMBER)
        return allowed

    monkeypatch.setattr(IsAdmin, "has_permission", demoted_right_after_the_check)
    response = finalise(admin, message["integrationId"])
    assert response.status_code == 403 and response.json()["error"]["code"] == "INSUFFICIENT_ROLE"
    assert Integration.objects.get(id=message["integrationId"]).is_pending


def active_integration(admin, org, client) -> Integration:
    message = posted_message(client.get(consent(start(admin, org).json()["auth_url"])))
    assert finalise(admin, message["integrationId"], name="Drive").status_code == 201
    return Integration.objects.get(id=message["integrationId"])


def test_a_reauthorisation_consented_elsewhere_leaves_the_integration_untouched(admin_client, org, provider, client):
    integration = active_integration(admin_client, org, client)
    old_tokens = integration.credentials
    again = start(admin_client, org, integration_id=str(integration.id)).json()["auth_url"]
    message = posted_message(APIClient().get(consent(again)))
    assert message["type"] == "knora:oauth:success" and message["integrationId"] != str(integration.id)
    assert Integration.objects.get(id=integration.id).credentials == old_tokens
    assert [i["id"] for i in admin_client.get(BASE).json()["integrations"]] == [str(integration.id)]


def test_a_finalised_reauthorisation_moves_the_new_tokens_onto_the_integration(admin_client, org, provider, client):
    integration = active_integration(admin_client, org, client)
    Integration.objects.filter(id=integration.id).update(status=IntegrationStatus.ERROR, sync_checkpoint={"since": 7})
    again = start(admin_client, org, integration_id=str(integration.id)).json()["auth_url"]
    message = posted_message(client.get(consent(again)))
    assert message["type"] == "knora:oauth:success"
    response = finalise(admin_client, message["integrationId"], name="Drive")
    assert response.status_code == 201 and response.json()["id"] == str(integration.id)
    stored = Integration.objects.get(id=integration.id)
    assert stored.credentials["access_token"] == provider.state.issued_access_tokens[-1]
    assert stored.status == IntegrationStatus.ACTIVE and stored.sync_checkpoint == {"since": 7}
    assert not Integration.objects.filter(id=message["integrationId"]).exists()


@pytest.mark.django_db(transaction=True)
def test_three_parallel_flows_on_the_free_plan_end_with_one_integration(make_org, make_member, client_for, provider):
    free = make_org("Tiny", plan="free")
    admins = [client_for(make_member(free, Role.ADMIN)) for _ in range(3)]
    # Barriers make every start pass before any callback, and every callback land before any finalise.
    after_start, after_callback = threading.Barrier(3, timeout=60), threading.Barrier(3, timeout=60)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def flow(admin: APIClient) -> None:
        try:
            auth_url = start(admin, free).json()["auth_url"]
            after_start.wait()
            message = posted_message(APIClient().get(consent(auth_url)))
            after_callback.wait()
            statuses.append(finalise(admin, message["integrationId"]).status_code)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
            after_start.abort()
            after_callback.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=flow, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(statuses) == [201, 403, 403]
    assert Integration.objects.filter(organisation=free, is_pending=False).count() == 1


@pytest.mark.parametrize(
    "reply",
    [
        (200, "text/html", b"<html>Sign-in service</html>"),
        (200, "application/json", b'{"access_token": "t", "expires_in": "soon"}'),
        (200, "application/json", b'{"access_token": {"nested": true}}'),
    ],
)
def test_a_token_endpoint_answering_no_tokens_gives_the_error_page(admin_client, org, provider, client, reply):
    provider.state.token_reply = reply
    message = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))
    assert message == {
        "type": "knora:oauth:error",
        "connector": "fakeoauth",
        "error": "The provider did not accept the sign-in. Please try again.",
    }
    assert not Integration.objects.exists()


def test_the_cleanup_task_deletes_expired_pending_grants_and_spent_states(admin_client, org, provider, client):
    from integrations.tasks import delete_oauth_leftovers

    assert settings.CELERY_BEAT_SCHEDULE["delete-oauth-leftovers"]["task"] == delete_oauth_leftovers.name
    expired = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))["integrationId"]
    fresh = posted_message(client.get(consent(start(admin_client, org).json()["auth_url"])))["integrationId"]
    start(admin_client, org)  # a state still waiting for its callback
    unused = OAuthState.objects.get(used_at__isnull=True)
    start(admin_client, org)
    stale = OAuthState.objects.exclude(id=unused.id).get(used_at__isnull=True)
    OAuthState.objects.filter(id=stale.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    Integration.objects.filter(id=expired).update(pending_until=timezone.now() - timedelta(seconds=1))
    finalised = active_integration(admin_client, org, client)

    assert delete_oauth_leftovers.apply().get() == {"pending_integrations": 1, "oauth_states": 4}
    assert set(Integration.objects.values_list("id", flat=True)) == {finalised.id, Integration.objects.get(id=fresh).id}
    assert list(OAuthState.objects.values_list("id", flat=True)) == [unused.id]
