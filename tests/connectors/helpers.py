"""What the connector tests share: reading the store back (running a sync and snapshots come
from clientela.testing.source_contract, as for any connector)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from clientela.store import Store
from clientela.testing.source_contract import CONTEXT, read, snapshot, sync

__all__ = ["CONTEXT", "canonical_status", "expected_orders", "read", "rows", "snapshot",
           "stored_orders", "sync"]

from .fakes.data import StoreData, StoreOrder


def rows(store_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with Store(store_path) as store:
        return store.con.execute(sql).fetchall()


def canonical_status(order: StoreOrder) -> str:
    if order.refunds and order.refunded >= order.total:
        return "refunded"
    if order.refunds and order.status in ("paid", "fulfilled"):
        return "partially_refunded"
    return order.status


def expected_orders(data: StoreData, skip: set[int] = frozenset()  # type: ignore[assignment]
                    ) -> list[tuple[str, str | None, Decimal, Decimal, str, int]]:
    return sorted(
        (str(o.id), str(o.customer_id) if o.customer_id else None,
         o.total.quantize(Decimal("0.01")), o.refunded.quantize(Decimal("0.01")),
         canonical_status(o), len(o.lines))
        for o in data.orders.values() if o.id not in skip)


def stored_orders(store_path: Path) -> list[tuple[Any, ...]]:
    return rows(store_path, """
        SELECT o.order_id, o.customer_id, o.total, o.refunded_amount, o.status,
               (SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id
                AND l.source = o.source)
        FROM orders o ORDER BY o.order_id""")
