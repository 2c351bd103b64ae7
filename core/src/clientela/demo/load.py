"""Loading the demo store through the same upsert path every source uses.

Nothing here is demo-specific on purpose: rows go through `Store.write_batch`
in chunks, each chunk one transaction, so the demo exercises (and vouches
for) the real loader, and a second load finds every row unchanged.

A first load into a store holding no demo rows (`fresh`) bulk-inserts every
table but customers (`Store.insert_new`): an upsert compares each chunk
with the whole table it lands in, so upserting block after block costs
more per row the bigger the store gets, where an insert does not. The
rows stored are the same; customers still go through `write_batch`, so the
consent ledger and identity resolution see them as from any source.
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


def load_counts(
    store: Store, data: Tables, progress: Progress | None = None, chunk_rows: int = CHUNK_ROWS,
    *, fresh: bool = False,
) -> dict[str, UpsertCounts]:
    """Upsert every table, parents first; per table, what the store did with the rows.

    `data` is the whole store (`generate`) or one block of it (`DemoBuilder.blocks`, then
    its `store_wide` tables): loading block after block keeps memory flat at any size.
    `fresh`: the caller knows none of these keys is stored (see the module's docstring); a
    key already stored then raises and its chunk is not written.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    result: dict[str, UpsertCounts] = {}
    for model in ENTITIES:
        table = data.tables.get(model.table)
        if table is None:
            continue
        counts = UpsertCounts()
        total = table.num_rows
        if progress:
            progress(model.table, 0, total)
        for offset in range(0, total, chunk_rows):
            chunk = table.slice(offset, chunk_rows)
            if fresh and model is not Customer:
                counts.add(store.insert_new(model, chunk))
            else:
                counts.add(store.write_batch(model, chunk).counts)
            if progress:
                progress(model.table, min(offset + chunk_rows, total), total)
        result[model.table] = counts
    return result


def load(store: Store, data: Tables, progress: Progress | None = None, *, fresh: bool = False
         ) -> dict[str, int]:
    """Upsert every table; returns the rows written per table (inserted, updated or unchanged)."""
    return {table: counts.loaded
            for table, counts in load_counts(store, data, progress, fresh=fresh).items()}
