"""Terse builders for the engine's tests: orders written by hand, the ledger read back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

from clientela_loyalty.engine import RunSummary, run
from clientela_loyalty.rules import LoyaltyRules

from clientela.model import Customer, Order, OrderLine
from clientela.store import Store

SOURCE = "shop"


def scratch_store() -> Store:
    """A fresh store file in the test's own folder (the conftest chdirs there). A store must
    be a .duckdb file, and a property test needs a new one per example, so each is named
    afresh."""
    return Store(Path(f"scratch-{uuid4().hex}.duckdb"))


def at(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def order(order_id: str, customer_id: str, placed: str, total: str | int, *,
          status: str = "paid", shipping: str | int = 0, refunded: str | int = 0,
          updated: str | None = None, channel: str = "web", source: str = SOURCE,
          **kw: Any) -> Order:
    money = Decimal(str(total))
    return Order(source=source, order_id=order_id, customer_id=customer_id, status=status,
                 placed_at=at(placed), updated_at=None if updated is None else at(updated),
                 subtotal=money, total=money, shipping=Decimal(str(shipping)),
                 refunded_amount=Decimal(str(refunded)), channel=channel, **kw)


def line(order_id: str, line_id: str, sku: str, total: str | int) -> OrderLine:
    money = Decimal(str(total))
    return OrderLine(source=SOURCE, order_id=order_id, line_id=line_id, sku=sku, quantity=1,
                     unit_price=money, total=money)


def customer(customer_id: str, email: str | None = None) -> Customer:
    return Customer(source=SOURCE, customer_id=customer_id, email=email)


def store_with(path: Path | str, *records: Any) -> Store:
    store = Store(path)
    by_type: dict[type, list[Any]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(record)
    for model in (Customer, Order, OrderLine):
        if by_type.get(model):
            store.upsert(by_type[model])
    return store


def run_until(store: Store, until: str, rules: LoyaltyRules | None = None, *,
              timezone: str = "UTC") -> RunSummary:
    return run(store, rules or LoyaltyRules(), until=at(until), timezone=timezone)


def ledger(store: Store, customer_id: str | None = None) -> list[tuple[Any, ...]]:
    """(event_id, kind, points, occurred_at 'YYYY-MM-DD HH:MM', expires_at or None) in time
    order, for one customer or all."""
    where = "" if customer_id is None else "WHERE customer_id = ?"
    rows = store.con.execute(
        f"""SELECT event_id, kind, points, occurred_at, expires_at FROM loyalty_events {where}
            ORDER BY customer_id, occurred_at, CASE kind WHEN 'expire' THEN 0
                     WHEN 'reverse' THEN 1 WHEN 'redeem' THEN 2 WHEN 'earn' THEN 3 ELSE 4 END,
                     event_id""", [] if customer_id is None else [customer_id]).fetchall()
    return [(e, k, p, f"{o:%Y-%m-%d %H:%M}", None if x is None else f"{x:%Y-%m-%d %H:%M}")
            for e, k, p, o, x in rows]


def balance(store: Store, customer_id: str, until: str = "2100-01-01") -> int:
    row = store.con.execute(
        "SELECT coalesce(sum(points), 0) FROM loyalty_events WHERE customer_id = ? "
        "AND occurred_at < ?", [customer_id, at(until).replace(tzinfo=None)]).fetchone()
    assert row is not None
    return int(row[0])
