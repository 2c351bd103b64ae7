"""A neutral store (customers, orders, lines, refunds) that each fake renders its own way.

Tests compare what landed with these values, computed independently of
the connectors' mapping code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

CENT = Decimal("0.01")
PRODUCTS = [(101, "TSHIRT-BLK", "T-shirt black", Decimal("59.90")),
            (102, "JEANS-32", "Jeans 32", Decimal("189.00")),
            (103, "SNEAK-40", "Sneakers 40", Decimal("349.90")),
            (104, "CAP-RED", "Cap red", Decimal("39.90")),
            (105, "SOCKS-3", "Socks (3 pairs)", Decimal("29.70")),
            (106, "JACKET-M", "Jacket M", Decimal("499.00"))]
CITIES = [("São Paulo", "SP"), ("Rio de Janeiro", "RJ"), ("Belo Horizonte", "MG"),
          ("Curitiba", "PR"), ("Porto Alegre", "RS"), ("Recife", "PE")]


@dataclass
class Line:
    id: int
    product_id: int
    sku: str
    name: str
    price: Decimal
    quantity: int


@dataclass
class StoreOrder:
    id: int
    customer_id: int | None
    created: datetime
    updated: datetime
    status: str
    """pending | paid | fulfilled | cancelled (refunds are separate)."""
    lines: list[Line]
    discount: Decimal
    shipping: Decimal
    refunds: list[tuple[int, Decimal]] = field(default_factory=list)
    currency: str = "BRL"

    @property
    def subtotal(self) -> Decimal:
        return sum((line.price * line.quantity for line in self.lines), Decimal("0"))

    @property
    def total(self) -> Decimal:
        return self.subtotal - self.discount + self.shipping

    @property
    def refunded(self) -> Decimal:
        return sum((amount for _, amount in self.refunds), Decimal("0"))


@dataclass
class StoreCustomer:
    id: int
    email: str
    first_name: str
    last_name: str
    created: datetime
    updated: datetime
    subscribed: bool | None
    city: str
    region: str
    country: str = "BR"


@dataclass
class StoreData:
    customers: dict[int, StoreCustomer]
    orders: dict[int, StoreOrder]
    now: datetime
    _next_id: int = 10_000_000

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id


def generate(customers: int = 400, orders: int = 3_000, seed: int = 7,
             now: datetime | None = None) -> StoreData:
    """Deterministic for a seed; every timestamp at least a day in the past."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    people: dict[int, StoreCustomer] = {}
    for n in range(customers):
        cid = 1_000 + n
        created = now - timedelta(days=rng.uniform(400, 900))
        city, region = rng.choice(CITIES)
        people[cid] = StoreCustomer(
            cid, f"person{cid}@example.com", f"Name{cid}", f"Surname{cid}",
            created.replace(microsecond=0), (created + timedelta(days=rng.uniform(0, 300)))
            .replace(microsecond=0), rng.choice([True, True, False, None]), city, region)
    bought: dict[int, StoreOrder] = {}
    line_id = 50_000
    for n in range(orders):
        oid = 20_000 + n
        created = (now - timedelta(days=730) + timedelta(days=730 * n / orders)
                   - timedelta(days=1, minutes=rng.uniform(0, 600))).replace(microsecond=0)
        lines = []
        for product_id, sku, name, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
            line_id += 1
            lines.append(Line(line_id, product_id, sku, name, price, rng.randint(1, 3)))
        order = StoreOrder(
            oid, rng.choice(list(people)) if rng.random() > 0.1 else None, created,
            min(created + timedelta(hours=rng.uniform(0, 72)), now - timedelta(days=1))
            .replace(microsecond=0),
            rng.choices(["fulfilled", "paid", "pending", "cancelled"], [70, 15, 8, 7])[0],
            lines, Decimal(rng.choice([0, 0, 0, 10, 25])).quantize(CENT),
            Decimal(rng.choice(["0", "15.90", "24.50"])))
        if order.status == "fulfilled" and rng.random() < 0.05:
            order.refunds.append((line_id + 900_000, order.total))
        elif order.status == "fulfilled" and rng.random() < 0.05:
            order.refunds.append((line_id + 900_000, (order.total / 4).quantize(CENT)))
        bought[oid] = order
    return StoreData(people, bought, now)
