"""Hub tasks: a ping that proves a worker shares the broker and the database."""

from celery import shared_task

from hub.models import Organisation


@shared_task(name="hub.worker_ping")
def worker_ping(org_id: str) -> dict:
    """Answers from the worker with what it sees of one organisation in the database."""
    organisation = Organisation.objects.filter(id=org_id).first()
    return {"pong": True, "organisation_name": organisation.name if organisation else None}
