"""Loading the demo store through the same upsert path every source uses.

Nothing here is demo-specific on purpose: rows go through `Store.write_batch`
in chunks, each chunk one transaction, so the demo exercises (and vouches
for) the real loader, and a second load finds every row unchanged.

A first load into a store holding no demo rows (`fresh`) bulk-inserts every
table but customers (`Store.insert_new`), a block's table in one
transaction: an upsert stages, deduplicates and counts each chunk against
what is stored, and a demo's keys are new by construction (0.78x the load
time at 1M orders, see benchmarks/demo_generation.py). The rows stored are
the same; customers still go through `write_batch`, so the consent ledger
and identity resolution see them as from any source.
"""

from __future__ import annotations

from collections.abc import Callable

from clientela.demo.build import Tables
from clientela.model.entities import ENTITIES, Customer
from clientela.store.store import Store
from clientela.store.upsert import UpsertCounts

Progress = Callable[[str, int, int], None]
"""Called as progress(table_name, rows_done, rows_total) after each chunk."""

CHUNK_ROWS = 50_000
INSERT_CHUNK_ROWS = 1_000_000
"""Rows per transaction of a fresh load: each commit of DuckDB costs a checkpoint of its own,
so a block's table goes in one (53 s against 73 s in 50,000-row chunks at 300,000 orders)."""


def load_counts(
    store: Store, data: Tables, progress: Progress | None = None,
    chunk_rows: int | None = None, *, fresh: bool = False,
) -> dict[str, UpsertCounts]:
    """Upsert every table, parents first; per table, what the store did with the rows.

    `data` is the whole store (`generate`) or one block of it (`DemoBuilder.blocks`, then
    its `store_wide` tables): loading block after block keeps memory flat at any size.
    `fresh`: the caller knows none of these keys is stored (see the module's docstring); a
    key already stored then raises and its chunk is not written. `chunk_rows` (rows per
    transaction) defaults to CHUNK_ROWS, or INSERT_CHUNK_ROWS for the fresh inserts.
    """
    if chunk_rows is not None and chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    result: dict[str, UpsertCounts] = {}
    for model in ENTITIES:
        table = data.tables.get(model.table)
        if table is None:
            continue
        counts = UpsertCounts()
        total = table.num_rows
        insert = fresh and model is not Customer
        step = chunk_rows or (INSERT_CHUNK_ROWS if insert else CHUNK_ROWS)
        if progress:
            progress(model.table, 0, total)
        for offset in range(0, total, step):
            chunk = table.slice(offset, step)
            if insert:
                counts.add(store.insert_new(model, chunk))
            else:
                counts.add(store.write_batch(model, chunk).counts)
            if progress:
                progress(model.table, min(offset + step, total), total)
        result[model.table] = counts
    return result


def load(store: Store, data: Tables, progress: Progress | None = None, *, fresh: bool = False
         ) -> dict[str, int]:
    """Upsert every table; returns the rows written per table (inserted, updated or unchanged)."""
    return {table: counts.loaded
            for table, counts in load_counts(store, data, progress, fresh=fresh).items()}
