"""Custom webhooks: external systems post signed JSON that becomes knowledge entries."""

from connectors.webhook.connector import WebhookConnector

__all__ = ["WebhookConnector"]
