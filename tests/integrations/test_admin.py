"""The operators' Django admin for integrations: an integration stays in its organisation."""

import pytest
from django.test import Client

from hub.models import User
from integrations.models import Integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops@example.com", "ops-pass-123"))
    return client


def test_admin_cannot_move_an_integration_to_another_organisation(make_org, operator_client):
    home, elsewhere = make_org("Home"), make_org("Elsewhere")
    integration = Integration(organisation=home, type="webhook", name="Hook")
    integration.config = {"signing_secret": "whsec-stays-home"}
    integration.save()
    url = f"/admin/integrations/integration/{integration.pk}/change/"
    form = {"organisation": str(elsewhere.pk), "type": "webhook", "name": "Renamed", "status": "active"}
    response = operator_client.post(url, {**form, "sync_checkpoint": "{}", "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]
    integration.refresh_from_db()
    assert integration.name == "Renamed"  # the rest of the form was saved
    assert integration.organisation_id == home.pk
    assert integration.config == {"signing_secret": "whsec-stays-home"}
    # The change page shows the organisation as text, with no field to choose another.
    page = operator_client.get(url).content.decode()
    assert "Home" in page and 'name="organisation"' not in page


def test_admin_still_picks_the_organisation_of_a_new_integration(org, operator_client):
    page = operator_client.get("/admin/integrations/integration/add/").content.decode()
    assert 'name="organisation"' in page


def test_a_spread_jobs_page_shows_who_runs_each_slice(org, operator_client):
    from integrations.models import SyncJob, SyncJobSlice

    integration = Integration(organisation=org, type="webhook", name="Hook")
    integration.config = {"signing_secret": "whsec-x"}
    integration.save()
    job = SyncJob.objects.create(organisation=org, integration=integration, status="running", spread={"parts": 2})
    SyncJobSlice.objects.create(job=job, name="blog-article", status="running", claims=2, worker="worker-7:4242")
    page = operator_client.get(f"/admin/integrations/syncjob/{job.pk}/change/").content.decode()
    assert "blog-article" in page and "worker-7:4242" in page
