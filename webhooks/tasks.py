"""Beat tasks of the webhook receiver."""

from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.prune_deliveries")
def prune_deliveries() -> int:
    """Delivery records older than the replay window stop nothing any more: delete them."""
    return services.webhook_deliveries_prune()
