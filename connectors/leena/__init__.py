"""Leena AI: a destination that publishes the knowledge base into a Leena AI knowledge base."""

from connectors.leena.connector import LeenaConnector

__all__ = ["LeenaConnector"]
