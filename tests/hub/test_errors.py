"""Every error under /api/ leaves in the one envelope, never as HTML or a stack trace."""

import logging

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.hub.urls_with_failures")]


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert set(error) <= {"code", "message", "details"}
    return error


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_path_is_a_json_404(debug, settings):
    settings.DEBUG = debug
    assert_envelope(Client().get("/api/v1/does-not-exist"), 404, "NOT_FOUND")


def test_unknown_path_outside_api_stays_html():
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_wrong_method_is_405():
    assert_envelope(APIClient().get("/api/v1/auth/token"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_a_validation_error():
    response = APIClient().post(
        "/api/v1/auth/token", data='{"email": "a@b.c", "password": ', content_type="application/json"
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "JSON" in error["message"]


def test_unsupported_media_type_is_415():
    response = APIClient().post("/api/v1/auth/token", data="email=a", content_type="text/plain")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("url", ["/api/v1/test/explode", "/api/v1/test/explode-plain"])
@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_exception_is_internal_error_and_logged(url, debug, settings, caplog):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get(url)
    assert_envelope(response, 500, "INTERNAL_ERROR")
    assert b"secret-internal-detail" not in response.content
    assert b"Traceback" not in response.content
    assert "secret-internal-detail" in caplog.text


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_body_over_the_limit_is_413():
    body = '{"email": "a@b.c", "password": "' + "x" * 4096 + '"}'
    response = APIClient().post("/api/v1/auth/token", data=body, content_type="application/json")
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
