"""Loading goes through the real upsert path; a second load changes nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from clientela.demo import DemoBuilder, DemoData, Tables, generate, load, load_counts
from clientela.model import entity_for
from clientela.store.columns import LOADED_AT_COLUMN
from clientela.store.store import Store


def test_load_twice_changes_nothing(tmp_path: Path) -> None:
    data = generate(customers=300, orders=1_500, seed=11)
    calls: list[tuple[str, int, int]] = []
    with Store(tmp_path / "x.duckdb") as store:
        first = load_counts(store, data, progress=lambda *args: calls.append(args),
                            chunk_rows=400)
        assert {t: c.inserted for t, c in first.items()} == data.counts()
        assert store.counts() == data.counts()
        second = load(store, data)
        assert second == data.counts()
        third = load_counts(store, data, chunk_rows=400)
        assert {t: c.unchanged for t, c in third.items()} == data.counts()
        assert all(c.inserted == c.updated == c.stale == 0 for c in third.values())
        assert store.counts() == data.counts()
    finals = {table: done for table, done, total in calls if done == total}
    assert finals == data.counts()
    orders = [done for table, done, _ in calls if table == "orders"]
    assert orders == [0, 400, 800, 1_200, 1_500]


def test_loaded_values_round_trip(tmp_path: Path, demo: DemoData) -> None:
    with Store(tmp_path / "y.duckdb") as store:
        load(store, demo)
        stored = store.con.execute(
            "SELECT sum(total), sum(refunded_amount), count(*) FILTER (WHERE fx_rate IS NOT NULL)"
            " FROM orders"
        ).fetchone()
        orders = demo["orders"].to_pandas()
        assert stored == (orders.total.sum(), orders.refunded_amount.sum(),
                          int(orders.fx_rate.notna().sum()))


def _rows(store: Store, table: str) -> list[tuple[object, ...]]:
    """Every stored row but its load time, in key order (the row hash included)."""
    key = ", ".join(f'"{k}"' for k in ("source", *entity_for(table).key_fields))
    return store.con.execute(
        f'SELECT * EXCLUDE ({LOADED_AT_COLUMN}) FROM "{table}" ORDER BY {key}').fetchall()


def test_a_fresh_load_inserts_the_rows_an_upsert_would(tmp_path: Path) -> None:
    """`fresh` bulk-inserts every table but customers: the same rows, hashes included, and
    a later upsert of the same store finds every one unchanged."""
    builder = DemoBuilder(customers=600, orders=3_000, seed=5, block_orders=1_000)
    blocks = [*builder.blocks(), builder.store_wide()]
    with Store(tmp_path / "upsert.duckdb") as upserted, \
            Store(tmp_path / "fresh.duckdb") as inserted:
        for block in blocks:
            load(upserted, Tables(block))
            counts = load_counts(inserted, Tables(block), chunk_rows=700, fresh=True)
            assert {t: c.inserted for t, c in counts.items()} == Tables(block).counts()
        assert inserted.counts() == upserted.counts()
        for table in upserted.counts():
            assert _rows(inserted, table) == _rows(upserted, table), table
        for seen in ("SELECT count(*), count(DISTINCT person_id) FROM identity_links",
                     "SELECT count(*) FROM consent_events"):  # customers still upserted
            assert inserted.con.execute(seen).fetchone() == upserted.con.execute(
                seen).fetchone(), seen
        again = load_counts(inserted, Tables(blocks[0]))
        assert all(c.unchanged == n for c, n in zip(again.values(),
                                                     Tables(blocks[0]).counts().values(),
                                                     strict=True))
        # a key already stored is refused, not duplicated
        with pytest.raises(duckdb.ConstraintException):
            load(inserted, Tables({"orders": blocks[0]["orders"]}), fresh=True)
        assert inserted.counts() == upserted.counts()
