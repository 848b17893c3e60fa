"""Shared fixtures: organisations, members with tokens, API clients and a real Celery worker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from hub.auth import tokens_for
from hub.models import Membership, Organisation, Plan, Role, SubscriptionStatus
from hub.services import membership_set, organisation_create
from tests.worker_process import WorkerProcess

pytest_plugins: list[str] = []


@pytest.fixture(autouse=True)
def cache_of_its_own(settings) -> None:
    """Each test starts with empty rate-limit counters: a key prefix of its own under the run's prefix
    (clearing the cache instead would flush a shared Redis database, broker queues included)."""
    default = settings.CACHES["default"]
    settings.CACHES = {"default": {**default, "KEY_PREFIX": f"{default.get('KEY_PREFIX', '')}-{uuid.uuid4().hex[:8]}"}}


def ensure_plans() -> None:
    """Transactional tests flush every table, the seeded plans too; put them back."""
    from importlib import import_module

    for code, name, limit in import_module("hub.migrations.0002_seed_plans").PLANS:
        Plan.objects.get_or_create(code=code, defaults={"name": name, "max_integrations": limit})


@pytest.fixture
def make_org(db) -> Callable[..., Organisation]:
    ensure_plans()

    def make(name: str = "Acme", plan: str = "business", status: str = SubscriptionStatus.ACTIVE, **kw):
        return organisation_create(name=name, plan_code=plan, subscription_status=status, **kw)

    return make


@pytest.fixture
def org(make_org) -> Organisation:
    return make_org()


@pytest.fixture
def make_member(db) -> Callable[..., Membership]:
    counter = iter(range(1_000_000))

    def make(organisation: Organisation, role: Role = Role.ADMIN, email: str | None = None, password="pw-1234567"):
        email = email or f"user{next(counter)}@example.com"
        membership, _ = membership_set(organisation=organisation, email=email, role=role, password=password)
        return membership

    return make


@pytest.fixture
def client_for() -> Callable[[Membership], APIClient]:
    """An API client that sends a fresh access token of the given membership."""

    def make(membership: Membership) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(membership)['access']}")
        return client

    return make


@pytest.fixture
def admin_client(org, make_member, client_for) -> APIClient:
    return client_for(make_member(org, Role.ADMIN))


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[WorkerProcess]:
    """A real `celery worker` process on the configured broker and the test database."""
    with WorkerProcess.started() as worker:
        yield worker
