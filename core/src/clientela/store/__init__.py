"""The embedded store (DuckDB): entity tables, quarantine, sync state and run log."""

from clientela.store.store import DEFAULT_PATH, BatchResult, Store, StoreError
from clientela.store.upsert import UpsertCounts

__all__ = ["DEFAULT_PATH", "BatchResult", "Store", "StoreError", "UpsertCounts"]
