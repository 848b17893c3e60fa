"""Console pages. They only serve HTML: every datum is fetched by the page from the REST API with a token."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_safe

# Pages load only their own scripts and styles, and call only their own origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def safe_next_path(value: str | None) -> str:
    """`value` when it is a path on this site, else "/": never a way to another origin.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so `/%09/evil.example`
    and `/\\evil.example` are `//evil.example`, another host. Those are stripped before judging, and
    the path must then start with one slash followed by something else than a slash or backslash.
    """
    if not value:
        return "/"
    judged = "".join(ch for ch in value if ch not in "\t\n\r").replace("\\", "/")
    if not judged.startswith("/") or judged.startswith("//") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in judged):
        return "/"
    if not url_has_allowed_host_and_scheme(judged, allowed_hosts=None, require_https=False):
        return "/"
    return judged


def console_page(template: str, *, title: str, active: str = "") -> Callable[..., HttpResponse]:
    """A view that renders `template` with the settings the page's script needs."""

    @require_safe
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        context = {
            "page_title": title,
            "active": active,
            "page_config": {
                # The OAuth callback is served from PUBLIC_BASE_URL: its postMessage comes from there.
                "oauth_message_origin": _origin(settings.PUBLIC_BASE_URL),
                # Where the login page goes afterwards; login.js checks it once more against its origin.
                "next_path": safe_next_path(request.GET.get("next")),
                **{name: str(value) for name, value in kwargs.items()},
            },
        }
        response = render(request, template, context)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        # The OAuth popup must keep its opener across the provider's origin.
        response["Cross-Origin-Opener-Policy"] = "same-origin-allow-popups"
        response["Cache-Control"] = "no-store"
        return response

    return view


login = console_page("console/login.html", title="Log in")
integrations = console_page("console/integrations.html", title="Integrations", active="integrations")
integration_new = console_page("console/integration_new.html", title="Add an integration", active="integrations")
integration_detail = console_page("console/integration_detail.html", title="Integration", active="integrations")
knowledge = console_page("console/knowledge.html", title="Knowledge", active="knowledge")
