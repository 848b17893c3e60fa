"""App config for signed inbound webhooks."""

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.models import Integration

        # This process's copy of a changed integration (config, secret) goes at once; other
        # processes drop theirs within the minute they keep it, or at once on a refusal (views).
        post_save.connect(_integration_changed, sender=Integration, dispatch_uid="webhooks-forget-saved")
        post_delete.connect(_integration_changed, sender=Integration, dispatch_uid="webhooks-forget-deleted")


def _integration_changed(sender, instance, **kwargs) -> None:
    from django.db import transaction

    from webhooks.services import webhook_target_forget

    webhook_target_forget(integration_id=instance.pk)
    # Again once committed, in case a delivery read the row in between.
    transaction.on_commit(lambda: webhook_target_forget(integration_id=instance.pk))
