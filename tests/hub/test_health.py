"""Liveness and readiness probes."""

import pytest
from django.test import Client


def test_healthz_answers_without_auth():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_broker_answer():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_reports_a_broker_that_is_down(settings):
    # Nothing listens on port 1 of loopback: the connection is refused at once.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failed"] == ["broker"]
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] != "ok"


@pytest.mark.django_db
def test_readyz_reports_a_missing_filesystem_broker_folder(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "absent")}
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["broker"]


@pytest.mark.django_db
def test_readyz_names_what_failed_and_logs_why_but_never_shows_it(settings, caplog):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "failed": ["broker"],
        "checks": {"database": "ok", "broker": "failed"},
    }
    assert "127.0.0.1:1" not in response.content.decode()
    logged = [r.getMessage() for r in caplog.records if r.name == "hub.health"]
    assert len(logged) == 1 and "broker" in logged[0] and "Error" in logged[0]


@pytest.mark.django_db
def test_probes_answer_over_plain_http_when_everything_else_is_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz").status_code == 200
    redirect = Client().get("/api/v1/auth/me")
    assert redirect.status_code == 301 and redirect["Location"].startswith("https://")
