"""The sync engine: the one path from a source's batches into the store."""

from clientela.sync.engine import (
    StreamSummary,
    SyncSummary,
    run_sync,
    write_source_batch,
    write_source_batches,
)

__all__ = ["StreamSummary", "SyncSummary", "run_sync", "write_source_batch",
           "write_source_batches"]
