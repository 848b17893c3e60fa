"""Development secrets generated once and kept under var/, so `make run` needs no environment.

Only under DEBUG (`make run`) or in the tests' settings: with DEBUG off a missing key stops start-up,
because every replica would otherwise generate, and seal with, a key of its own.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_generation_allowed = False

HOW_TO_GENERATE = {
    "SECRET_KEY": "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
    "FIELD_ENCRYPTION_KEYS": (
        "python -c 'import base64, secrets; print(\"k1:\" + base64.b64encode(secrets.token_bytes(32)).decode())'"
    ),
}


class MissingSecretError(ImproperlyConfigured):
    """A key that production must be given is missing; the message names the setting."""

    def __init__(self, name: str) -> None:
        self.setting = name
        super().__init__(
            f"{name} is not set. With DEBUG off Tributary does not generate keys (each replica would make its own): "
            f"set {name} in the environment, the same value on web, worker and beat. "
            f"Generate one with: {HOW_TO_GENERATE[name]}"
        )


def allow_generation() -> None:
    """Let `local_secret` generate keys with DEBUG off; the tests' settings call this, production never does."""
    global _generation_allowed
    _generation_allowed = True


def _generators() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def local_secret(var_dir: Path, name: str, *, debug: bool) -> str:
    """Return the stored value for `name`, generating and saving it (mode 0600) on first use.

    Raises MissingSecretError unless `debug` is on or the tests allowed generation.
    """
    if not (debug or _generation_allowed):
        raise MissingSecretError(name)
    path = var_dir / "local-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = _generators()[name]
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
    return stored[name]
