"""Reads of the knowledge base, scoped to one organisation."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from hub.errors import ApiError, ErrorCode
from hub.models import Organisation
from integrations.models import EntryFile, KnowledgeEntry
from integrations.selectors import usable_integrations


def entry_list(
    *,
    organisation: Organisation,
    integration_id: uuid.UUID | None = None,
    query: str = "",
    include_deleted: bool = False,
) -> QuerySet[KnowledgeEntry]:
    entries = KnowledgeEntry.objects.filter(organisation=organisation).select_related("integration")
    if integration_id is not None:
        if not usable_integrations(organisation=organisation).filter(id=integration_id).exists():
            raise ApiError(ErrorCode.NOT_FOUND, "Integration not found.")
        entries = entries.filter(integration_id=integration_id)
    if query:
        entries = entries.filter(Q(title__icontains=query) | Q(content__icontains=query))
    if not include_deleted:
        entries = entries.filter(deleted_at__isnull=True)
    return entries


def entry_file_get(*, organisation: Organisation, entry_id: uuid.UUID, file_id: uuid.UUID) -> EntryFile:
    """One file of one of the organisation's entries; anything else (another entry's, another
    organisation's) is not found."""
    found = EntryFile.objects.filter(id=file_id, entry_id=entry_id, entry__organisation=organisation).first()
    if found is None:
        raise ApiError(ErrorCode.NOT_FOUND, "File not found.")
    return found


def entry_get(*, organisation: Organisation, entry_id: uuid.UUID) -> KnowledgeEntry:
    entry = KnowledgeEntry.objects.select_related("integration").filter(organisation=organisation, id=entry_id).first()
    if entry is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Knowledge entry not found.")
    return entry
