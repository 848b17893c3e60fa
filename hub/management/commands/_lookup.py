"""Shared look-up for commands that take an organisation id."""

import uuid

from django.core.management.base import CommandError

from hub.models import Organisation


def organisation_or_fail(org_id: str) -> Organisation:
    try:
        return Organisation.objects.get(id=uuid.UUID(org_id))
    except (ValueError, Organisation.DoesNotExist) as exc:
        raise CommandError(f"No organisation with id {org_id!r}.") from exc
