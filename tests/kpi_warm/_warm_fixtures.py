"""A small store and the edits the warm-cache tests apply to it, each through a public write
path (`Store.upsert`, `forget`, the identity graph's table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from clientela.destinations.forget import forget
from clientela.identity import IDENTITY_LINKS_TABLE
from clientela.model import Campaign, Customer, Order, Touch
from clientela.store import Store

SOURCE = "test"
TIMEZONE = "America/Sao_Paulo"
DAY0 = datetime(2023, 1, 1, 15, 0, tzinfo=UTC)
"""Edits are dated DAY0 + n days (n < 730): the two years before the window's end."""
CUSTOMERS = 6
CHANNELS = ("organic", "paid")
SPAN = {"start": "2024-01", "end": "2025-01", "grain": "month", "timezone": TIMEZONE}
"""The series compared: twelve local months, whose history starts a year earlier."""
PERIOD_LOCAL = ["revenue", "orders", "aov", "active_customers", "channel_mix"]
POINT_IN_TIME = ["new_customers", "repeat_rate", "recency_days", "lapsed_customers",
                 "retention_rate", "winback_rate"]
METRICS = PERIOD_LOCAL + POINT_IN_TIME
"""Cheap enough to compute many times a test (cohorts, RFM and LTV cost seconds each)."""


def email(index: int) -> str:
    return f"person{index}@example.com"


def customer(index: int, channel: str | None = None) -> Customer:
    return Customer(source=SOURCE, customer_id=f"c{index}", email=email(index),
                    acquisition_channel=channel or CHANNELS[index % 2])


def order(order_id: str, customer_index: int | None, day: int, cents: int,
          **kw: Any) -> Order:
    total = Decimal(cents) / 100
    kw.setdefault("status", "paid")
    kw.setdefault("channel", "online" if day % 3 else "store")
    return Order(source=SOURCE, order_id=order_id,
                 customer_id=None if customer_index is None else f"c{customer_index}",
                 placed_at=DAY0 + timedelta(days=day, hours=day % 11), subtotal=total,
                 total=total, **kw)


BASE_ORDERS = [(i % CUSTOMERS, (i * 37) % 730, 1000 + 317 * i) for i in range(24)]
"""(customer, day, cents) of the orders every test starts from."""


CAMPAIGNS = ("spring", "winter", "late")
"""One-day campaigns (index: started DAY0 + 450, 700 and 725 days), each with a contact of
two customers that day; `Editor.touch` adds or moves contacts between them."""


def campaign_day(index: int) -> int:
    return (450, 700, 725)[index]


def add_campaigns(store: Store) -> None:
    """CAMPAIGNS and their first contacts, for the tests of campaign ROI."""
    store.upsert([Campaign(source=SOURCE, campaign_id=cid, name=cid, channel="email",
                           started_at=DAY0 + timedelta(days=campaign_day(i)),
                           cost=Decimal(10 + i))
                  for i, cid in enumerate(CAMPAIGNS)])
    store.upsert([touch(f"t{i}{j}", (2 * i + j) % CUSTOMERS, i, campaign_day(i))
                  for i in range(len(CAMPAIGNS)) for j in range(2)])


def touch(touch_id: str, customer_index: int, campaign_index: int, day: int) -> Touch:
    return Touch(source=SOURCE, touch_id=touch_id, customer_id=f"c{customer_index}",
                 campaign_id=CAMPAIGNS[campaign_index], channel="email",
                 occurred_at=DAY0 + timedelta(days=day, hours=1))


def build(path: Path) -> Store:
    store = Store(path)
    store.upsert([customer(i) for i in range(CUSTOMERS)])
    store.upsert([order(f"o{i}", c, day, cents) for i, (c, day, cents) in enumerate(BASE_ORDERS)])
    return store


@dataclass
class Editor:
    """Applies one edit to the store as a source, a webhook or a person would."""

    store: Store
    added: int = 0

    def orders(self) -> list[Order]:
        rows = self.store.con.execute(
            "SELECT order_id, customer_id, status, placed_at, total, refunded_amount, channel "
            "FROM orders ORDER BY order_id").fetchall()
        return [Order(source=SOURCE, order_id=oid, customer_id=cid, status=status,
                      placed_at=placed.replace(tzinfo=UTC), subtotal=total, total=total,
                      refunded_amount=refunded, channel=channel)
                for oid, cid, status, placed, total, refunded, channel in rows]

    def apply(self, edit: tuple[Any, ...]) -> None:
        kind, *args = edit
        getattr(self, kind)(*args)

    def new(self, customer_index: int | None, day: int, cents: int) -> None:
        self.added += 1
        self.store.upsert([order(f"n{self.added}", customer_index, day, cents)])

    def refund(self, pick: int, share: float) -> None:
        found = self.orders()[pick % len(self.orders())]
        refunded = (found.total * Decimal(str(share))).quantize(Decimal("0.01"))
        status = "refunded" if refunded == found.total else "partially_refunded"
        self.store.upsert([found.model_copy(update={"refunded_amount": refunded,
                                                    "status": status})])

    def cancel(self, pick: int) -> None:
        found = self.orders()[pick % len(self.orders())]
        self.store.upsert([found.model_copy(update={"status": "cancelled"})])

    def move(self, pick: int, day: int) -> None:
        found = self.orders()[pick % len(self.orders())]
        moved = DAY0 + timedelta(days=day, hours=3)
        self.store.upsert([found.model_copy(update={"placed_at": moved})])

    def touch(self, touch_index: int, customer_index: int, campaign_index: int,
              day: int) -> None:
        """A contact written: `t<touch_index>` new or, when it exists, moved (another
        customer, campaign or day)."""
        self.store.upsert([touch(f"t{touch_index}", customer_index, campaign_index, day)])

    def untouch(self, touch_index: int, how: str) -> None:
        """A contact taken out of the contacted group, when it exists: out of every campaign
        (`campaign_id` emptied) or made a control touch."""
        found = self.store.con.execute(
            "SELECT customer_id, campaign_id, occurred_at FROM touches WHERE touch_id = ?",
            [f"t{touch_index}"]).fetchone()
        if found is None:
            return
        customer_id, campaign_id, occurred_at = found
        self.store.upsert([Touch(
            source=SOURCE, touch_id=f"t{touch_index}", customer_id=customer_id,
            campaign_id=None if how == "uncampaign" else campaign_id, channel="email",
            occurred_at=occurred_at.replace(tzinfo=UTC), is_control=how == "control")])

    def channel(self, index: int, channel: str) -> None:
        self.store.upsert([customer(index, channel)])

    def merge(self, index: int, into: int) -> None:
        self.store.con.execute(f"INSERT OR REPLACE INTO {IDENTITY_LINKS_TABLE} VALUES (?, ?, ?, ?)",
                               [f"c{index}", f"c{into}", "email", datetime(2025, 1, 1)])

    def forget(self, index: int) -> None:
        forget(self.store, email(index), {})
