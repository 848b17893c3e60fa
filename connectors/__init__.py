"""Adapters to upstream systems, one folder each, behind one small interface, plus the registry."""
