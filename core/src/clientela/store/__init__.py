"""The embedded store (DuckDB): entity tables, quarantine, sync state and run log."""

from clientela.store.store import (
    DEFAULT_PATH,
    BatchPart,
    BatchResult,
    Store,
    StoreError,
    StorePathError,
    StreamState,
)
from clientela.store.upsert import UpsertCounts

__all__ = ["DEFAULT_PATH", "BatchPart", "BatchResult", "Store", "StoreError", "StorePathError", "StreamState",
           "UpsertCounts"]
