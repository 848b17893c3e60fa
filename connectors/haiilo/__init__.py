"""Haiilo AI Connector: a source that pulls a Haiilo intranet into the knowledge base."""
