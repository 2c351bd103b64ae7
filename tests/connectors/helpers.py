"""What the connector tests share: running a sync, reading the store back, snapshots."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from clientela.sources.api import Source
from clientela.store import Store
from clientela.sync import SyncSummary, run_sync

from .fakes.data import StoreData, StoreOrder

CONTEXT = {"timezone": "UTC", "reporting_currency": "BRL"}


def sync(store_path: Path, name: str, source: Source, **options: Any) -> SyncSummary:
    with Store(store_path) as store:
        return run_sync(store, name, source, context=CONTEXT, **options)


def read(summary: SyncSummary, stream: str) -> int:
    return next((s.read for s in summary.streams if s.stream == stream), 0)


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


def snapshot(store_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a sync leaves in the data tables and quarantine, minus load times."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Store(store_path) as store:
        for table in ("customers", "orders", "order_lines"):
            cols = [c for (c,) in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND column_name <> '_loaded_at' ORDER BY ordinal_position", [table]).fetchall()]
            out[table] = store.con.execute(
                f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()
        out["quarantine"] = store.con.execute(
            "SELECT source, entity, record_key, reason FROM quarantine ORDER BY ALL").fetchall()
    return out
