"""Production settings fail closed: no generated keys with DEBUG off, and `check --deploy` passes.

Each test starts real processes (manage.py, gunicorn, a Celery worker) with a clean environment and
DJANGO_SETTINGS_MODULE=hub.settings, in a var/ folder of its own.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.console.live_hub import free_port
from tests.processes import ROOT, process_started

KEYS = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS")
# What docs/security/auth.md tells an operator to set behind a TLS-terminating proxy.
PRODUCTION_HTTPS = {
    "ALLOWED_HOSTS": "hub.example.com,127.0.0.1",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}
COMMANDS = {
    "check": [sys.executable, "manage.py", "check"],
    "migrate": [sys.executable, "manage.py", "migrate", "--noinput"],
    "gunicorn": [sys.executable, "-m", "gunicorn", "hub.wsgi:application", "--bind", "127.0.0.1:0"],
    "worker": [sys.executable, "-m", "celery", "-A", "hub", "worker", "--pool=solo", "-Q", "tributary-never-used"],
}


def production_keys() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


@pytest.fixture
def var_dir(tmp_path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def clean_env(tmp_path, var_dir) -> dict[str, str]:
    """Only what a process needs to run, plus production's settings module; no key, no DEBUG."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "TRIBUTARY_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite3'}",
    }


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", KEYS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_missing_key_stops_start_up_with_debug_off(name, missing, clean_env, var_dir, tmp_path):
    env = {**clean_env, **{key: value for key, value in production_keys().items() if key != missing}}
    result = run(COMMANDS[name], env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{missing} is not set" in output
    assert "Traceback" not in output  # one clear line, not a wall
    assert not (var_dir / "local-secrets.json").exists()
    assert not (tmp_path / "hub.sqlite3").exists()  # migrate did not start


def test_make_run_keeps_generating_local_keys(clean_env, var_dir):
    # The Makefile exports DEBUG=true for `make run`.
    result = run([sys.executable, "manage.py", "check"], {**clean_env, "DEBUG": "true"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(KEYS) <= set(json.loads((var_dir / "local-secrets.json").read_text()))


def test_the_tests_settings_keep_generating_local_keys_with_debug_off(clean_env, var_dir):
    result = run([sys.executable, "manage.py", "check"], {**clean_env, "DJANGO_SETTINGS_MODULE": "hub.settings_test"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (var_dir / "local-secrets.json").exists()


def test_check_deploy_passes_with_the_documented_production_settings(clean_env):
    env = {**clean_env, **production_keys(), **PRODUCTION_HTTPS}
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Without them the same check fails: the settings are what makes it pass.
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {**clean_env, **production_keys()},
    )
    assert result.returncode != 0 and "security.W008" in result.stderr + result.stdout


def test_gunicorn_in_production_redirects_to_https_but_answers_probes_over_http(clean_env):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**clean_env, **production_keys(), **PRODUCTION_HTTPS}
    command = [sys.executable, "-m", "gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{port}", "-w", "1"]

    def answers(_child) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        return False

    with process_started(command, env=env, name="production-hub", ready=answers, timeout=60) as hub:
        readiness = httpx.get(f"{url}/readyz", timeout=5)
        assert readiness.status_code == 200, hub.log()
        redirect = httpx.get(f"{url}/api/v1/auth/me", timeout=5)
        assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
        # Behind the proxy, which says the client spoke HTTPS: the API answers, with HSTS.
        behind_proxy = httpx.get(f"{url}/api/v1/auth/me", headers={"X-Forwarded-Proto": "https"}, timeout=5)
        assert behind_proxy.status_code == 401, behind_proxy.text
        assert behind_proxy.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
