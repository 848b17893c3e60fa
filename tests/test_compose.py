"""docker-compose.yml: valid against the Compose Specification, with the services the README names."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "specs" / "compose-spec.json"
APP_SERVICES = ("web", "worker", "worker-runs", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_spec(compose):
    assert SCHEMA.exists(), f"the Compose Specification schema is expected at {SCHEMA}"
    schema = json.loads(SCHEMA.read_text())
    # The schema names draft-07 by a URL the validator does not know; say so explicitly.
    jsonschema.Draft7Validator(schema).validate(compose)


def test_every_service_the_readme_names_exists(compose):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Docker Compose", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+)`", section)) & {"web", "worker", "beat", "postgres", "redis"}
    assert named == {"web", "worker", "beat", "postgres", "redis"}
    assert named <= set(compose["services"])


def test_app_services_share_database_and_broker(compose):
    services = compose["services"]
    for key in ("DATABASE_URL", "CELERY_BROKER_URL"):
        values = {services[name]["environment"][key] for name in APP_SERVICES}
        assert len(values) == 1, f"{key} differs between web, the workers and beat: {values}"
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["web"]["environment"]["CELERY_BROKER_URL"].startswith("redis://")


def test_every_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name


def test_each_queue_has_a_worker_of_its_own(compose):
    """Sync runs (queue `runs`) and short tasks (queue `default`) are served by separate workers, so the
    reaper and the scheduler never wait behind a sync (hub/settings.py: RUNS_QUEUE, CELERY_TASK_ROUTES)."""
    services = compose["services"]
    assert re.search(r"\s-Q default(\s|$)", services["worker"]["command"])
    assert re.search(r"\s-Q runs(\s|$)", services["worker-runs"]["command"])


def test_the_workers_run_with_two_malloc_arenas(compose):
    """A sync's threads allocate in arenas of their own and free in the run's thread; two arenas keep a
    worker's peak RSS under its 250 MB target (README "Performance")."""
    for name in ("worker", "worker-runs"):
        assert compose["services"][name]["environment"]["MALLOC_ARENA_MAX"] == "2", name
