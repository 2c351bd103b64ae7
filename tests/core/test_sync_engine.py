"""The sync engine: a page's orders and their lines land in one transaction; the collector
runs sparser while it works."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from clientela.model import Order, OrderLine
from clientela.sources.api import SourceBatch, Stream
from clientela.store import Store
from clientela.sync import run_sync
from clientela.sync.engine import YOUNG_COLLECTION_EVERY

ORDERS = Stream("orders", Order)
LINES = Stream("order_lines", OrderLine)
CONTEXT = {"timezone": "UTC", "reporting_currency": "BRL"}


def order(order_id: str) -> dict[str, Any]:
    return {"source": "shop", "order_id": order_id, "status": "paid",
            "placed_at": "2024-01-10T12:00:00Z", "updated_at": "2024-01-10T12:00:00Z",
            "subtotal": "10.00", "total": "10.00", "channel": "online"}


def line(order_id: str, line_id: str) -> dict[str, Any]:
    return {"source": "shop", "order_id": order_id, "line_id": line_id, "quantity": 1,
            "unit_price": "10.00", "total": "10.00"}


class Pages:
    """Two pages of one order each, lines first; `fail_after` lines breaks the read there."""

    def __init__(self, fail_after_lines_of_page: int | None = None) -> None:
        self.fail_after = fail_after_lines_of_page

    def streams(self) -> Sequence[Stream]:
        return [ORDERS]

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]:
        for page in range(int(state.get("page", 0)), 2):
            yield SourceBatch(LINES, [line(str(page), "a"), line(str(page), "b")])
            if page == self.fail_after:
                raise ConnectionError("the connection dropped")
            yield SourceBatch(ORDERS, [order(str(page))], state={"page": page + 1})


def landed(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    orders = store.con.execute("SELECT order_id FROM orders ORDER BY 1").fetchall()
    lines = store.con.execute(
        "SELECT order_id, line_id FROM order_lines ORDER BY 1, 2").fetchall()
    return orders, lines


def test_lines_commit_with_their_orders_in_one_transaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    original = Store.write_parts

    def spy(self: Store, parts: Any, **kwargs: Any) -> Any:
        calls.append([part.model.table for part in parts])
        return original(self, parts, **kwargs)

    monkeypatch.setattr(Store, "write_parts", spy)
    with Store(tmp_path / "s.duckdb") as store:
        summary = run_sync(store, "shop", Pages(), context=CONTEXT)
        assert calls == [["order_lines", "orders"], ["order_lines", "orders"]]
        assert landed(store) == ([("0",), ("1",)],
                                 [("0", "a"), ("0", "b"), ("1", "a"), ("1", "b")])
        assert [(s.stream, s.read, s.batches) for s in summary.streams] == [
            ("orders", 2, 2), ("order_lines", 4, 2)]


def test_a_read_that_breaks_after_the_lines_lands_neither_them_nor_their_orders(
        tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(ConnectionError):
            run_sync(store, "shop", Pages(fail_after_lines_of_page=1), context=CONTEXT)
        assert landed(store) == ([("0",)], [("0", "a"), ("0", "b")])
        assert store.get_state("shop", "orders") == {"page": 1}
        run_sync(store, "shop", Pages(), context=CONTEXT)
        assert landed(store) == ([("0",), ("1",)],
                                 [("0", "a"), ("0", "b"), ("1", "a"), ("1", "b")])


def test_the_collector_runs_sparser_during_a_sync_and_as_before_after(tmp_path: Path) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    with Store(tmp_path / "s.duckdb") as store:
        run_sync(store, "shop", Pages(), context=CONTEXT,
                 on_batch=lambda summary, batch: seen.append(gc.get_threshold()))
    assert seen == [(max(before[0], YOUNG_COLLECTION_EVERY), *before[1:])] * 4
    assert gc.get_threshold() == before
