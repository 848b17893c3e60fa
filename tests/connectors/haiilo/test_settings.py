"""The Haiilo connector's own settings: declared in its folder, read at call time from the environment
(Django settings of the same name first), not from hub/settings.py."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from connectors.haiilo import settings as haiilo_settings
from integrations.models import JobStatus
from tests.connectors.haiilo.test_faults import requests_for, run_job
from tests.fakes.haiilo import Fault

pytestmark = pytest.mark.django_db


def test_hub_settings_declare_no_haiilo_setting():
    assert not [name for name in dir(django_settings) if name.startswith("HAIILO_")]


def test_attempts_come_from_the_environment_at_call_time(integration, haiilo, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HAIILO_MAX_ATTEMPTS", "2")
    haiilo.tenant.faults.append(Fault(count=10_000, drop=True, entity_type="user"))
    job, _ = run_job(integration)
    assert job.status == JobStatus.FAILED
    assert len(requests_for(haiilo, "/events/user")) == 2


def test_a_django_setting_wins_over_the_environment(monkeypatch, settings):
    monkeypatch.setenv("HAIILO_MAX_ATTEMPTS", "2")
    settings.HAIILO_MAX_ATTEMPTS = 3
    assert haiilo_settings.MAX_ATTEMPTS.get() == 3
    del settings.HAIILO_MAX_ATTEMPTS
    assert haiilo_settings.MAX_ATTEMPTS.get() == 2
    monkeypatch.delenv("HAIILO_MAX_ATTEMPTS")
    assert (haiilo_settings.MAX_ATTEMPTS.get(), haiilo_settings.READ_TIMEOUT_SECONDS.get()) == (4, 30.0)
