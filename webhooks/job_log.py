"""Job-log lines from signed callbacks (a destination's status reports) on the integration's sync job.

A line goes to the job that runs, else to the most recent one: the run the upstream reports on is,
at the latest, the one before the next. A line about an object the hub pushed (its `remote_id`) goes
to the run that sent it: the job of that integration that ran when its ledger row was accepted.
The log keeps `integrations.runs.jobs.JobLog`'s bounds.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When

from connectors.callbacks import CallbackLogLine
from integrations.models import Integration, JobStatus, PushLedgerEntry, SyncJob
from integrations.runs.jobs import JobLog

# JobLog.as_json's last line once it dropped some: read back, so the bound holds across callbacks.
_DROPPED_LINE = re.compile(r"([0-9]+) more lines not kept\.")


@transaction.atomic
def callback_log_lines_append(*, integration: Integration, lines: Sequence[CallbackLogLine]) -> uuid.UUID | None:
    """Append the lines to the integration's sync jobs: each to the run that sent its `remote_id`, the
    others to the running (else latest) job. The id of a job that took lines, or None when the
    integration has no job yet (the lines are then not kept)."""
    senders = _sending_jobs(integration, {line.remote_id for line in lines if line.remote_id})
    by_job: dict[uuid.UUID | None, list[CallbackLogLine]] = defaultdict(list)
    for line in lines:  # each job's lines stay in the payload's order
        by_job[senders.get(line.remote_id) if line.remote_id else None].append(line)
    if None in by_job:
        current = _current_job_id(integration)
        unrouted = by_job.pop(None)
        if current is not None:
            by_job[current].extend(unrouted)
    # Locked in id order, so two callbacks naming the same jobs cannot wait on each other.
    for job_id in sorted(by_job, key=str):
        job = SyncJob.objects.select_for_update().only("id", "callback_log").filter(pk=job_id).first()
        if job is None:  # deleted meanwhile (with its integration)
            continue
        log = _job_log_of(job.callback_log)
        for line in by_job[job_id]:
            log.add(line.level, line.message, line.external_id)
        # A column of their own: the job's owner writes `log` (and the rest) from memory under its lease.
        SyncJob.objects.filter(pk=job.pk).update(callback_log=log.as_json())
    return next(iter(by_job), None)


def _current_job_id(integration: Integration) -> uuid.UUID | None:
    return (
        SyncJob.objects.filter(organisation_id=integration.organisation_id, integration_id=integration.pk)
        .annotate(running_first=Case(When(status=JobStatus.RUNNING, then=Value(0)), default=Value(1),
                                     output_field=IntegerField()))
        .order_by("running_first", "-created_at")
        .values_list("id", flat=True)
        .first()
    )  # fmt: skip


def _sending_jobs(integration: Integration, remote_ids: set[str]) -> dict[str, uuid.UUID]:
    """For each remote id the integration's ledger holds as accepted, the job that was running when it
    was accepted (the push loop stamps a batch's rows inside its run). Remote ids not accepted now
    (never, or made due again) are left out: their lines go to the current job."""
    if not remote_ids:
        return {}
    accepted = PushLedgerEntry.objects.filter(
        destination_id=integration.pk, remote_id__in=remote_ids, accepted_at__isnull=False
    ).values_list("remote_id", "accepted_at")
    job_at: dict[datetime, uuid.UUID | None] = {}
    senders: dict[str, uuid.UUID] = {}
    for remote_id, accepted_at in accepted:
        if accepted_at not in job_at:
            job_at[accepted_at] = (
                SyncJob.objects.filter(
                    Q(completed_at__gte=accepted_at) | Q(completed_at__isnull=True),
                    organisation_id=integration.organisation_id,
                    integration_id=integration.pk,
                    started_at__lte=accepted_at,
                )
                .order_by("-started_at")
                .values_list("id", flat=True)
                .first()
            )
        if job_at[accepted_at] is not None:
            senders[remote_id] = job_at[accepted_at]
    return senders


def _job_log_of(stored: list | None) -> JobLog:
    lines = list(stored or [])
    if lines and isinstance(lines[-1], dict) and set(lines[-1]) == {"level", "message"}:
        if match := _DROPPED_LINE.fullmatch(str(lines[-1]["message"])):
            return JobLog(lines[:-1], dropped=int(match.group(1)))
    return JobLog(lines)
