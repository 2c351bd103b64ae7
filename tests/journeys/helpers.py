"""A hand-built store for the journey tests: people, orders, loyalty events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from clientela.model.entities import Customer, LoyaltyEvent, Order
from clientela.store import Store


def order(order_id: str, customer_id: str, placed_at: datetime, total: str = "150.00", *,
          status: str = "paid", salesperson_id: str | None = None) -> Order:
    return Order(order_id=order_id, customer_id=customer_id, status=status, placed_at=placed_at,
                 subtotal=Decimal(total), total=Decimal(total), channel="store",
                 salesperson_id=salesperson_id, source="test")


def earn(event_id: str, customer_id: str, at: datetime, points: int,
         expires_at: datetime | None = None) -> LoyaltyEvent:
    return LoyaltyEvent(event_id=event_id, customer_id=customer_id, kind="earn", points=points,
                        occurred_at=at, expires_at=expires_at, source="test")


def write(path: Path | str, *batches: Sequence[Any]) -> Path:
    """Upsert the batches; customers subscribed on a channel also opt in to relationship
    messages on it."""
    from channels.helpers import opt_in_relationship

    with Store(path) as store:
        for batch in batches:
            if batch:
                store.upsert(list(batch))
                if isinstance(batch[0], Customer):
                    opt_in_relationship(store, batch)
    return path


def customer(customer_id: str, **fields: Any) -> Customer:
    base: dict[str, Any] = {"phone": "+5511987650000", "email": f"{customer_id}@example.com",
                            "first_name": "Ana", "consent_sms": "subscribed",
                            "consent_whatsapp": "subscribed", "consent_email": "subscribed"}
    base.update(fields)
    return Customer(customer_id=customer_id, source="test", **base)
