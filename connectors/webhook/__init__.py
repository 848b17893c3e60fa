"""Custom webhooks: external systems post signed JSON that becomes knowledge entries."""
