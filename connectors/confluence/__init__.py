"""Confluence Cloud: page sync as a source and the six page actions, over REST API v2."""

from connectors.confluence.connector import ConfluenceConnector

__all__ = ["ConfluenceConnector"]
