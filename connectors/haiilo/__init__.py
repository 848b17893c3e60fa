"""Haiilo AI Connector: a source that pulls a Haiilo intranet into the knowledge base."""

from connectors.haiilo.connector import HaiiloConnector

__all__ = ["HaiiloConnector"]
