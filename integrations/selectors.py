"""Reads of integrations and sync jobs, always scoped to one organisation."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from hub.errors import ApiError, ErrorCode
from hub.models import Organisation
from integrations.models import Integration, SyncJob


def usable_integrations(*, organisation: Organisation) -> QuerySet[Integration]:
    """The organisation's integrations, pending OAuth grants left out: those are reached only by finalising."""
    return Integration.objects.filter(organisation=organisation, is_pending=False)


def integration_list(*, organisation: Organisation) -> QuerySet[Integration]:
    return usable_integrations(organisation=organisation).order_by("created_at")


def integration_get(*, organisation: Organisation, integration_id: uuid.UUID | str) -> Integration:
    """The organisation's integration; another organisation's, or a pending one, is as absent as a missing one."""
    integration = usable_integrations(organisation=organisation).filter(id=integration_id).first()
    if integration is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Integration not found.")
    return integration


def integration_count(*, organisation: Organisation) -> int:
    """What counts against the plan: pending records do not, finalising is where one starts to count."""
    return usable_integrations(organisation=organisation).count()


def job_list(*, organisation: Organisation, integration: Integration) -> QuerySet[SyncJob]:
    return SyncJob.objects.filter(organisation=organisation, integration=integration).order_by("-created_at")


def job_get(*, organisation: Organisation, integration: Integration, job_id: uuid.UUID | str) -> SyncJob:
    job = SyncJob.objects.filter(organisation=organisation, integration=integration, id=job_id).first()
    if job is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Sync job not found.")
    return job


def active_job(*, integration: Integration) -> SyncJob | None:
    return SyncJob.objects.filter(integration=integration, status__in=["pending", "running"]).first()
