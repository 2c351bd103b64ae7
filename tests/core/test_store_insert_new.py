"""Store.insert_new: the bulk first build of a derived table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from clientela.model import Order, validate_rows
from clientela.store import Store
from clientela.store.upsert import records_to_arrow


def orders(*ids: str, total: str = "100.00") -> list[Order]:
    rows = [{"source": "shop", "order_id": i, "customer_id": "c1", "status": "paid",
             "placed_at": "2024-01-10T12:00:00Z", "updated_at": "2024-01-10T12:00:00Z",
             "subtotal": total, "total": total, "channel": "online"} for i in ids]
    good, bad = validate_rows(Order, rows)
    assert not bad
    return good  # type: ignore[return-value]


def test_inserted_rows_read_back_and_upsert_as_unchanged(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        counts = store.insert_new(Order, records_to_arrow(Order, orders("1", "2")),
                                  state=("shop", "orders", {"cursor": 7}))
        assert counts.inserted == 2
        assert store.con.execute(
            "SELECT order_id, total FROM orders ORDER BY 1").fetchall() == [
            ("1", 100), ("2", 100)]
        assert store.get_state("shop", "orders") == {"cursor": 7}
        # the row hash is the upsert's own: the same rows again change nothing
        again = store.upsert(orders("1", "2"))
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
        changed = store.upsert(orders("2", total="90.00"))
        assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 0)


def test_a_key_already_stored_raises_and_writes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(orders("1"))
        with pytest.raises(duckdb.ConstraintException):
            store.insert_new(Order, records_to_arrow(Order, orders("2", "1")),
                             state=("shop", "orders", {"cursor": 8}))
        assert store.count("orders") == 1
        assert store.get_state("shop", "orders") == {}


def test_an_empty_table_inserts_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        empty = records_to_arrow(Order, [])
        assert store.insert_new(Order, empty).inserted == 0
        assert store.count("orders") == 0
