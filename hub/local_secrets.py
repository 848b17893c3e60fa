"""Development secrets generated once and kept under var/, so `make run` needs no environment."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path


def _generators() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def local_secret(var_dir: Path, name: str) -> str:
    """Return the stored value for `name`, generating and saving it (mode 0600) on first use."""
    path = var_dir / "local-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = _generators()[name]
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
    return stored[name]
