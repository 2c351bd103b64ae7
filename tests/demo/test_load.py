"""Loading goes through the real upsert path; a second load changes nothing."""

from __future__ import annotations

from pathlib import Path

from clientela.demo import DemoData, generate, load, load_counts
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
