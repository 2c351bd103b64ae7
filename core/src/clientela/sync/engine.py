"""Running a source into the store: validate, land, quarantine, advance the cursor.

This is the one loop every source goes through (files, store platforms,
webhook batches). Each batch is written with the state that resumes after
it in a single transaction, so a crash at any point and a re-run leave the
store exactly as one clean run would. A batch of a child stream (order
lines, handed over before their orders) waits for the next batch of the
stream being read and lands in its transaction: a page's orders and lines
commit together, and a sync pays one commit per batch, not two.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from clientela.model.validation import validate_rows
from clientela.sources.api import Source, SourceBatch, Stream
from clientela.store import BatchPart, Store, StreamState, UpsertCounts

YOUNG_COLLECTION_EVERY = 10_000
"""Allocations between two collections of the garbage collector's youngest generation while
a sync runs (Python's default is 700). A sync allocates and frees millions of containers
(decoded JSON, rows, records), almost none of them in cycles: at the default pace the
collector took ~15% of a sync's CPU."""


@contextmanager
def sparser_collections() -> Iterator[None]:
    """The collector's young generation at `YOUNG_COLLECTION_EVERY` for the block, then as
    it was (a disabled threshold stays disabled)."""
    threshold = gc.get_threshold()
    if 0 < threshold[0] < YOUNG_COLLECTION_EVERY:
        gc.set_threshold(YOUNG_COLLECTION_EVERY, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@dataclass
class StreamSummary:
    stream: str
    read: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    quarantined: int = 0
    """Rows rejected in this run (a re-run rejects them again but stores them once)."""
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "inserted": self.counts.inserted,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "stale": self.counts.stale,
            "quarantined": self.quarantined,
            "duplicates": self.counts.duplicates,
        }


@dataclass
class SyncSummary:
    source: str
    run_id: str
    streams: list[StreamSummary] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for stream in self.streams:
            for key, value in stream.as_dict().items():
                total[key] = total.get(key, 0) + value
        return total


BatchCallback = Callable[[StreamSummary, SourceBatch], None]


Landed = tuple[int, UpsertCounts, int]
"""What one batch did: (rows read, counts, rejected)."""


def write_source_batches(
    store: Store,
    source_name: str,
    batches: Sequence[SourceBatch],
    *,
    context: Mapping[str, Any],
    run_id: str | None,
) -> list[Landed]:
    """Validate batches and land them, each with its state, in one transaction."""
    parts: list[BatchPart] = []
    states: list[StreamState] = []
    for batch in batches:
        model = batch.stream.entity
        good, bad = validate_rows(model, batch.rows, context=context)
        parts.append(BatchPart(model, good, [*batch.rejections, *bad]))
        if batch.state is not None:
            states.append((source_name, batch.stream.name, batch.state))
    results = store.write_parts(parts, source=source_name, states=states, run_id=run_id)
    return [(len(batch.rows) + len(batch.rejections), result.counts, len(part.rejections))
            for batch, part, result in zip(batches, parts, results, strict=True)]


def write_source_batch(
    store: Store,
    source_name: str,
    batch: SourceBatch,
    *,
    context: Mapping[str, Any],
    run_id: str | None,
) -> Landed:
    """Validate one batch and land it with its state; returns (read, counts, rejected)."""
    return write_source_batches(store, source_name, [batch], context=context, run_id=run_id)[0]


def run_sync(
    store: Store,
    source_name: str,
    source: Source,
    *,
    context: Mapping[str, Any],
    streams: Sequence[str] | None = None,
    on_batch: BatchCallback | None = None,
    kind: str = "sync",
) -> SyncSummary:
    """Read the chosen streams (all by default) and land every batch; logs the run."""
    run_id = store.start_run(kind, source_name)
    summary = SyncSummary(source=source_name, run_id=run_id)
    chosen: list[Stream] = [
        s for s in source.streams() if streams is None or s.name in streams
    ]
    by_name: dict[str, StreamSummary] = {}

    def summary_for(name: str) -> StreamSummary:
        # a parent stream's batches may carry a child stream (orders -> order_lines):
        # each is counted under its own name
        if name not in by_name:
            by_name[name] = StreamSummary(name)
            summary.streams.append(by_name[name])
        return by_name[name]

    def land(batches: list[SourceBatch]) -> None:
        landed = write_source_batches(store, source_name, batches, context=context,
                                      run_id=run_id)
        for batch, (read, counts, rejected) in zip(batches, landed, strict=True):
            stream_summary = summary_for(batch.stream.name)
            stream_summary.read += read
            stream_summary.counts.add(counts)
            stream_summary.quarantined += rejected
            stream_summary.batches += 1
            if on_batch is not None:
                on_batch(stream_summary, batch)

    try:
        with sparser_collections():
            for stream in chosen:
                summary_for(stream.name)
                pending: list[SourceBatch] = []
                for batch in source.read(stream, store.get_state(source_name, stream.name)):
                    pending.append(batch)
                    if batch.stream.name == stream.name:  # children wait for their parents
                        land(pending)
                        pending = []
                if pending:
                    land(pending)
    except BaseException as error:
        store.finish_run(run_id, "failed", summary.totals(), message=str(error))
        raise
    store.finish_run(run_id, "ok", summary.totals())
    return summary
