"""Job-log lines from signed callbacks (a destination's status reports) on the integration's sync job.

A line goes to the job that runs, else to the most recent one: the run the upstream reports on is,
at the latest, the one before the next. The log keeps `integrations.runs.jobs.JobLog`'s bounds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Case, IntegerField, Value, When

from connectors.callbacks import CallbackLogLine
from integrations.models import Integration, JobStatus, SyncJob
from integrations.runs.jobs import JobLog

# JobLog.as_json's last line once it dropped some: read back, so the bound holds across callbacks.
_DROPPED_LINE = re.compile(r"([0-9]+) more lines not kept\.")


@transaction.atomic
def callback_log_lines_append(*, integration: Integration, lines: Sequence[CallbackLogLine]) -> uuid.UUID | None:
    """Append the lines to the integration's running (else latest) sync job; its id, or None when the
    integration has no job yet (the lines are then not kept)."""
    job = (
        SyncJob.objects.select_for_update()
        .filter(organisation_id=integration.organisation_id, integration_id=integration.pk)
        .annotate(running_first=Case(When(status=JobStatus.RUNNING, then=Value(0)), default=Value(1),
                                     output_field=IntegerField()))
        .order_by("running_first", "-created_at")
        .only("id", "log")
        .first()
    )  # fmt: skip
    if job is None:
        return None
    log = _job_log_of(job.log)
    for line in lines:
        log.add(line.level, line.message, line.external_id)
    # Only the log column: the job's owner writes the others under its lease.
    SyncJob.objects.filter(pk=job.pk).update(log=log.as_json())
    return job.pk


def _job_log_of(stored: list | None) -> JobLog:
    lines = list(stored or [])
    if lines and isinstance(lines[-1], dict) and set(lines[-1]) == {"level", "message"}:
        if match := _DROPPED_LINE.fullmatch(str(lines[-1]["message"])):
            return JobLog(lines[:-1], dropped=int(match.group(1)))
    return JobLog(lines)
