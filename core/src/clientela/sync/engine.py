"""Running a source into the store: validate, land, quarantine, advance the cursor.

This is the one loop every source goes through (files, store platforms,
webhook batches). Each batch is written with the state that resumes after
it in a single transaction, so a crash at any point and a re-run leave the
store exactly as one clean run would. A batch of a child stream (order
lines, handed over before their orders) waits for the next batch of the
stream being read and lands in its transaction: a page's orders and lines
commit together, and a sync pays one commit per batch, not two.

Validating a batch (Python) and writing the previous one (DuckDB, which
releases the GIL) overlap: one writer thread takes each validated batch;
the next is handed over, and the previous one counted, only once the store
is free again, so commits stay in order and a batch is reported only after
its commit.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
    prepared = prepare_batches(source_name, batches, context=context)
    return write_prepared(store, source_name, prepared, run_id=run_id)


@dataclass
class Prepared:
    """Batches validated and ready to land: the CPU half of a write, done apart from the
    store so that the next batch is validated while this one is written."""

    batches: Sequence[SourceBatch]
    parts: list[BatchPart]
    states: list[StreamState]


def prepare_batches(source_name: str, batches: Sequence[SourceBatch], *,
                    context: Mapping[str, Any]) -> Prepared:
    parts: list[BatchPart] = []
    states: list[StreamState] = []
    for batch in batches:
        model = batch.stream.entity
        good, bad = validate_rows(model, batch.rows, context=context)
        parts.append(BatchPart(model, good, [*batch.rejections, *bad]))
        if batch.state is not None:
            states.append((source_name, batch.stream.name, batch.state))
    return Prepared(batches, parts, states)


def write_prepared(store: Store, source_name: str, prepared: Prepared, *,
                   run_id: str | None) -> list[Landed]:
    results = store.write_parts(prepared.parts, source=source_name, states=prepared.states,
                                run_id=run_id)
    return [(len(batch.rows) + len(batch.rejections), result.counts, len(part.rejections))
            for batch, part, result in zip(prepared.batches, prepared.parts, results,
                                           strict=True)]


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

    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clientela-writer")
    in_flight: list[tuple[list[SourceBatch], Future[list[Landed]]]] = []

    def settle() -> None:
        """Wait for the batch being written, then count it (the store is free again)."""
        while in_flight:
            batches, future = in_flight[0]
            landed = future.result()  # an interrupt here leaves it in flight, to be waited for
            in_flight.pop()
            report(batches, landed)

    def land(batches: list[SourceBatch]) -> None:
        prepared = prepare_batches(source_name, batches, context=context)
        settle()
        in_flight.append((batches, writer.submit(write_prepared, store, source_name, prepared,
                                                 run_id=run_id)))

    def report(batches: list[SourceBatch], landed: list[Landed]) -> None:
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
                settle()
                pending: list[SourceBatch] = []
                for batch in source.read(stream, store.get_state(source_name, stream.name)):
                    pending.append(batch)
                    if batch.stream.name == stream.name:  # children wait for their parents
                        land(pending)
                        pending = []
                if pending:
                    land(pending)
            settle()
    except BaseException as error:
        for _, future in in_flight:  # let a write under way end before the store is used
            wait([future])
        writer.shutdown()
        store.finish_run(run_id, "failed", summary.totals(), message=str(error))
        raise
    writer.shutdown()
    store.finish_run(run_id, "ok", summary.totals())
    return summary
