"""Signed inbound webhooks: verify, record, enqueue."""
