"""Small fixture stores built from canonical records, so every expected value is countable
by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import ibis

from clientela.kpi.context import TableCache
from clientela.metrics import retention, rfm_segments, sales, value
from clientela.metrics.api import Metric
from clientela.model import Customer, Order
from clientela.model.base import Record
from clientela.store import Store

SOURCE = "test"


def catalog() -> dict[str, Metric]:
    """The metrics this suite covers (Sales, Retention, ltv_historical, cac,
    ltv_cac_ratio, RFM); the other
    sections have their own tests."""
    found = [*sales.metrics(), *retention.metrics(), *value.metrics(), *rfm_segments.metrics()]
    return {m.name: m for m in found if m.name in OWN}


OWN = {
    "orders", "revenue", "gross_sales", "discount_total", "active_customers", "new_customers",
    "aov", "purchase_frequency", "items_per_order", "channel_mix", "omnichannel_share",
    "retention_rate", "repeat_rate", "churn_rate", "lapsed_customers", "winback_rate",
    "recency_days", "interpurchase_days", "return_probability", "avg_frequency",
    "cohort_retention", "ltv_historical", "cac", "ltv_cac_ratio", "rfm_segments",
}


def order(order_id: str, customer: str | None, when: datetime | str, total: str | int,
          **kw: Any) -> Order:
    """An order with sensible defaults; `when` is UTC unless it carries a zone."""
    placed = datetime.fromisoformat(when) if isinstance(when, str) else when
    if placed.tzinfo is None:
        placed = placed.replace(tzinfo=ZoneInfo("UTC"))
    amount = Decimal(str(total))
    kw.setdefault("subtotal", amount + Decimal(str(kw.get("discount", 0))))
    kw.setdefault("status", "paid")
    kw.setdefault("channel", "online")
    return Order(source=SOURCE, order_id=order_id, customer_id=customer, placed_at=placed,
                 total=amount, **kw)


def customer(customer_id: str, **kw: Any) -> Customer:
    return Customer(source=SOURCE, customer_id=customer_id, **kw)


def build_store(path: Path, *batches: list[Record]) -> Store:
    store = Store(path)
    for batch in batches:
        if batch:
            store.upsert(batch)
    return store


SP = ZoneInfo("America/Sao_Paulo")


def basic_records() -> tuple[list[Customer], list[Order]]:
    """Four customers and a guest; every edge case of the conventions appears once."""
    customers = [
        customer("a", acquisition_channel="online"),
        customer("b", acquisition_channel="store"),
        customer("c", acquisition_channel="online"),
        customer("d", acquisition_channel="store"),
    ]
    orders = [
        order("o1", "a", "2025-01-10T12:00", 100, channel="online", store_id="s1",
              salesperson_id="p1"),
        order("o2", "a", "2025-02-15T12:00", 50, channel="store", store_id="s1",
              status="partially_refunded", refunded_amount=Decimal("20"), discount=10,
              loyalty_discount=Decimal("5")),
        order("o3", "b", "2025-01-20T12:00", 200, status="cancelled"),
        order("o4", "b", "2025-02-05T12:00", 80, currency="USD", fx_rate=Decimal("5.0"),
              channel="online"),
        order("o5", "c", "2024-12-20T12:00", 30, channel="store", store_id="s2"),
        # 23:30 on 28 Feb in São Paulo is 02:30 on 1 March in UTC
        order("o6", "c", datetime(2025, 2, 28, 23, 30, tzinfo=SP), 60, channel="app"),
        order("o7", None, "2025-01-05T12:00", 10, channel="online"),
        order("o8", "d", "2024-06-01T12:00", 70, channel="store", status="refunded",
              refunded_amount=Decimal("70")),
    ]
    return customers, orders


class RecordingCache(TableCache):
    """A TableCache that remembers itself and the columns of each table it writes (the
    `recording` fixture puts it in the engine's place)."""

    made: ClassVar[list[RecordingCache]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingCache.made.append(self)
        self.columns: dict[str, list[str]] = {}

    def _write(self, key: str, table: ibis.Table, transient: bool,
               parts: Sequence[ibis.Table] = ()) -> ibis.Table:
        self.columns[key] = list(table.columns)
        return super()._write(key, table, transient, parts)
