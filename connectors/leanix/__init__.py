"""SAP LeanIX Integration API: fact sheets in as knowledge entries, knowledge entries out as fact sheets."""

from connectors.leanix.connector import LeanIXConnector

__all__ = ["LeanIXConnector"]
