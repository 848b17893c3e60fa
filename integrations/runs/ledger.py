"""Changes to a destination's push ledger that come from outside a run: a destination reporting later
(by a signed callback) that an object it had accepted failed after all."""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from integrations.models import Integration, PushLedgerEntry

logger = logging.getLogger(__name__)

LAST_ERROR_MAX_CHARS = 2000  # as the push loop keeps it (integrations.runs.push._ledger_write)


def ledger_entry_refused(*, destination: Integration, remote_id: str, reason: str) -> bool:
    """Make the destination's entry known there as `remote_id` due again (accepted_at = NULL: the push
    loop's DUE), noting why and counting the attempt. False, and logged, when no ledger row of this
    destination has that remote id (an article this hub never sent, or one removed since)."""
    changed = PushLedgerEntry.objects.filter(destination=destination, remote_id=remote_id).update(
        accepted_at=None,
        last_error=reason[:LAST_ERROR_MAX_CHARS],
        attempts=F("attempts") + 1,
        updated_at=timezone.now(),
    )
    if not changed:
        logger.info("Destination %s reported remote object %r, which its ledger does not know.", destination.pk,
                    remote_id)  # fmt: skip
    return bool(changed)
