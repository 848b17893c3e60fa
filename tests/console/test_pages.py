"""Console pages as the server sends them: HTML only, no tenant data, strict headers, static files that exist."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

PAGES = ["/", "/login", "/integrations/new", f"/integrations/{uuid.uuid4()}", "/knowledge"]


@pytest.mark.parametrize("path", PAGES)
def test_console_pages_are_html_with_a_strict_content_security_policy(client: Client, path: str):
    response = client.get(path)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    # The OAuth popup keeps its opener; the page itself is never cached with someone's data in it.
    assert response["Cross-Origin-Opener-Policy"] == "same-origin-allow-popups"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", PAGES)
def test_console_pages_reference_only_static_files_that_exist_and_no_inline_script(client: Client, path: str):
    html = client.get(path).content.decode()
    references = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert "console/api.js" in references and "console/console.css" in references
    for reference in references:
        assert finders.find(reference), reference
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    inline = [body for attrs, body in scripts if "src=" not in attrs and 'type="application/json"' not in attrs]
    assert inline == []


def test_the_page_config_tells_where_oauth_messages_come_from(client: Client, settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com/base/"
    integration_id = uuid.uuid4()
    html = client.get(f"/integrations/{integration_id}").content.decode()
    config = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html).group(1)
    assert '"oauth_message_origin": "https://hub.example.com"' in config
    assert f'"integration_id": "{integration_id}"' in config


def test_console_pages_accept_only_safe_methods(client: Client):
    assert client.post("/login").status_code == 405


def test_the_django_admin_stays_at_admin_for_operators(client: Client):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_an_unknown_console_address_is_an_html_404_and_api_404s_stay_json(client: Client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and b"Page not found" in page.content
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["error"]["code"] == "NOT_FOUND"
