"""Settings of the hub process the browser tests drive: the test settings, production's static files,
the test-only connectors, and a fake OAuth provider whose address the tests pass in."""

import os

from hub.settings_test import *  # noqa: F403
from tests.console.fake_oauth import PROVIDER

# What production serves: hashed, compressed files from STATIC_ROOT, through WhiteNoise.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
EXTRA_CONNECTORS = [
    "tests.fakes.notes.NotesConnector",
    "tests.console.fake_oauth.FakeDriveConnector",
    "tests.fakes.shelf.ShelfDestination",
    "tests.fakes.shelf.ShelfTwoWay",
]
_provider_url = os.environ.get("FAKE_OAUTH_URL", "http://127.0.0.1:9")
OAUTH_PROVIDERS = {
    PROVIDER: {
        "authorize_url": f"{_provider_url}/authorize",
        "token_url": f"{_provider_url}/token",
        "client_id": "fake-client",
        "client_secret": "fake-client-secret",
        "scopes": ["read"],
    }
}
