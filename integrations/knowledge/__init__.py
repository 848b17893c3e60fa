"""The knowledge base: writes (the one write module of entries), clean (what may be stored), reads
(selectors) and api (+ urls). What the sync uses is importable from the package itself."""

from integrations.knowledge.writes import UpsertResult, entries_tombstone, entries_upsert

__all__ = ["UpsertResult", "entries_tombstone", "entries_upsert"]
