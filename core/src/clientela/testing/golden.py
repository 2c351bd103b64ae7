"""The golden store: a small, deterministic retail history every engine must agree on.

Generated from a fixed seed with the edge cases metrics trip on: cancelled
and fully refunded orders, partial refunds, orders in USD with an fx rate,
guest checkouts, ties in frequency and money, orders minutes away from a
month boundary in America/Sao_Paulo, order lines, marketing spend and
traffic.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from clientela.model import Customer, MarketingSpend, Order, OrderLine
from clientela.model.base import Record
from clientela.model.entities import Traffic
from clientela.store import Store

SEED = 20250101
SOURCE = "golden"
CHANNELS = ("online", "store", "app", "whatsapp", "marketplace")
START = datetime(2023, 1, 1)
END = datetime(2025, 12, 31)


def golden_records(customers: int = 60, orders: int = 600, seed: int = SEED
                   ) -> dict[type[Record], list[Record]]:
    rng = random.Random(seed)
    people = [
        Customer(source=SOURCE, customer_id=f"c{i:03d}",
                 acquisition_channel=rng.choice(CHANNELS),
                 home_store_id=rng.choice(("s1", "s2", "s3", None)))
        for i in range(customers)
    ]
    span = (END - START).total_seconds()
    found: list[Order] = []
    lines: list[OrderLine] = []
    for k in range(orders):
        placed = START + timedelta(seconds=int(span * rng.random()))
        if k % 37 == 0:  # a few minutes either side of a local (UTC-3) month boundary
            first = datetime(placed.year, placed.month, 1, 3, 0)
            placed = first + timedelta(minutes=rng.choice((-7, 7)))
        total = Decimal(rng.choice((50, 100, 150, 199, 250))) if k % 5 == 0 else \
            Decimal(rng.randrange(1000, 50000)) / 100
        status = rng.choices(("paid", "fulfilled", "partially_refunded", "cancelled", "refunded"),
                             (60, 25, 5, 6, 4))[0]
        refunded = (total / 4).quantize(Decimal("0.01")) if status == "partially_refunded" else \
            total if status == "refunded" else Decimal(0)
        foreign = k % 11 == 0
        found.append(Order(
            source=SOURCE, order_id=f"o{k:05d}",
            customer_id=None if k % 23 == 0 else f"c{rng.randrange(customers):03d}",
            status=status, placed_at=placed, currency="USD" if foreign else "",
            fx_rate=Decimal("5.4321") if foreign else None,
            subtotal=total + Decimal(5), discount=Decimal(5), total=total,
            refunded_amount=refunded, channel=rng.choice(CHANNELS),
            store_id=rng.choice(("s1", "s2", "s3", None)),
            salesperson_id=rng.choice(("p1", "p2", None)),
            loyalty_discount=Decimal(rng.choice((0, 0, 0, 10))),
        ))
        for line in range(rng.randrange(1, 4)):
            lines.append(OrderLine(source=SOURCE, order_id=f"o{k:05d}", line_id=str(line),
                                   quantity=rng.randrange(1, 4), unit_price=Decimal(10),
                                   total=Decimal(10)))
    spend = [MarketingSpend(source=SOURCE, day=date(2023, 1, 1) + timedelta(days=d),
                            channel=CHANNELS[d % len(CHANNELS)],
                            amount=Decimal(rng.randrange(100, 1000)))
             for d in range(0, 1095, 3)]
    traffic = [Traffic(source=SOURCE, day=date(2023, 1, 1) + timedelta(days=d),
                       channel=CHANNELS[d % len(CHANNELS)], sessions=rng.randrange(50, 500))
               for d in range(0, 1095, 3)]
    records: dict[type[Record], list[Record]] = {
        Customer: list(people), Order: list(found), OrderLine: list(lines),
        MarketingSpend: list(spend), Traffic: list(traffic)}
    return records


def golden_store(path: Path) -> Store:
    """Write the golden records to a new store file at `path` and return it open."""
    store = Store(path)
    for records in golden_records().values():
        store.upsert(records)
    return store
