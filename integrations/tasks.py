"""Celery tasks: thin wrappers that fetch by id, call a service and decide about retrying."""

from celery import shared_task

from integrations.models import SyncJob
from integrations.oauth import oauth_leftovers_delete
from integrations.runs.engine import ENQUEUE_ERRORS, sync_job_run, sync_job_slices_run
from integrations.runs.history import sync_history_prune
from integrations.runs.jobs import sync_jobs_reap_stale
from integrations.runs.schedule import runs_due_start

MAX_SYNC_RETRIES = 3


@shared_task(bind=True, name="integrations.run_sync_job", acks_late=True, max_retries=MAX_SYNC_RETRIES)
def run_sync_job(self, job_id: str, org_id: str, waiting_since: float | None = None) -> str:
    final_attempt = self.request.retries >= self.max_retries
    outcome = sync_job_run(job_id=job_id, org_id=org_id, final_attempt=final_attempt, waiting_since=waiting_since)
    if outcome.defer_in is not None:
        # Its organisation's runs slots are taken: the same task later, not a retry (its count is kept).
        try:
            self.apply_async(
                (job_id, org_id),
                {"waiting_since": outcome.waiting_since},
                countdown=outcome.defer_in,
                retries=self.request.retries,
            )
            return outcome.status
        except ENQUEUE_ERRORS:
            # Nothing would ever run the pending job: run it now, past the cap, rather than lose it.
            outcome = sync_job_run(job_id=job_id, org_id=org_id, final_attempt=final_attempt, fair=False)
    if outcome.retry_in is not None:
        # Capped by the engine (SYNC_RETRY_COUNTDOWN_MAX_SECONDS). Without `waiting_since`: the wait for
        # a runs slot ended when this attempt ran.
        raise self.retry(kwargs={}, countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="integrations.run_sync_slices", acks_late=True)
def run_sync_slices(job_id: str, org_id: str, token: int, number: int | None = None) -> str:
    """One more worker's part in a run whose slices are spread (RUN_SLICE_TASKS); `number` is its share."""
    outcome = sync_job_slices_run(
        job_id=job_id, org_id=org_id, token=token, attempts_max=MAX_SYNC_RETRIES, number=number
    )
    if outcome.retry_in is not None:
        # The run is the job's task's to retry: sent again as its next retry, after the countdown.
        retries = min(
            SyncJob.objects.filter(pk=job_id).values_list("attempts", flat=True).first() or 0, MAX_SYNC_RETRIES
        )
        run_sync_job.apply_async((job_id, org_id), countdown=outcome.retry_in, retries=retries)
    return outcome.status


@shared_task(name="integrations.reap_stale_sync_jobs")
def reap_stale_sync_jobs() -> int:
    return sync_jobs_reap_stale()


@shared_task(name="integrations.start_due_runs")
def start_due_runs() -> int:
    return runs_due_start()


@shared_task(name="integrations.delete_oauth_leftovers")
def delete_oauth_leftovers() -> dict[str, int]:
    return oauth_leftovers_delete()


@shared_task(name="integrations.prune_sync_history")
def prune_sync_history() -> int:
    return sync_history_prune()
