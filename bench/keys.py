"""Keys for a bench run: the production settings refuse to start without them (DEBUG off).

A bench measures the production code path, so it runs with DEBUG off and brings its own throwaway
pair, made once per run and handed to every process it starts, unless the environment has keys.
"""

from __future__ import annotations

import base64
import os
import secrets

_RUN_KEYS = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEYS": "bench1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
}


def bench_keys() -> dict[str, str]:
    """SECRET_KEY and FIELD_ENCRYPTION_KEYS: the environment's, else this run's own."""
    return {name: os.environ.get(name) or value for name, value in _RUN_KEYS.items()}
