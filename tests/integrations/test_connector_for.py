"""Building a connector for an integration raises connector errors; only the API layer makes them HTTP."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorUnavailable
from integrations.models import Integration, JobStatus, SyncJob
from integrations.runs.engine import sync_job_run
from integrations.services import connector_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def orphan(org) -> Integration:
    """An integration whose connector is no longer installed on this server."""
    return Integration.objects.create(organisation=org, type="retired", name="Old wiki")


def test_connector_for_an_unavailable_connector_raises_a_connector_error(orphan):
    with pytest.raises(ConnectorUnavailable, match="Connector 'retired' is not available.") as raised:
        connector_for(orphan)
    assert raised.value.retryable is False


def test_a_job_of_an_unavailable_connector_fails_with_that_message_not_a_crash(orphan):
    job = SyncJob.objects.create(organisation=orphan.organisation, integration=orphan)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(orphan.organisation_id), final_attempt=False)
    job.refresh_from_db()
    assert (outcome.status, job.status) == ("failed", JobStatus.FAILED)
    assert job.error_message == "Connector 'retired' is not available."


@pytest.mark.parametrize("path", ["connection-health", "preview"])
def test_the_api_answers_400_for_an_unavailable_connector(admin_client, orphan, path):
    response = admin_client.get(f"/api/v1/integrations/{orphan.id}/{path}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("VALIDATION_ERROR", "Connector 'retired' is not available.")
