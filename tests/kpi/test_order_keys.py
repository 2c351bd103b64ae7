"""An order is keyed by (source, order_id): two sources may both have an order "1001" (a
Shopify order and a POS till's), and a metric that meets order lines with orders must not
give one source's order the other's lines.

Store (all in January 2025, UTC):
  shopify 1001 (a)  lines 2 + 3        -> 5 units
  pos     1001 (b)  line 1             -> 1 unit
  shopify 1002 (a)  line 4             -> 4 units
  pos     1002 (c)  cancelled, line 7  -> not a valid order, its line counts nowhere
Valid orders 3, units 5 + 1 + 4 = 10: items_per_order = 10/3. Joined on order_id alone the
two 1001s would each get 6 units and shopify 1002 would get 4 + 7: 23/3."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from _kpi_fixtures import catalog

from clientela.kpi import compute
from clientela.kpi.retail import MANY_METRICS
from clientela.model import Order, OrderLine
from clientela.store import Store
from clientela.store.touched import ROWS_TABLE

ORDERS = [("shopify", "1001", "a", "paid"), ("pos", "1001", "b", "paid"),
          ("shopify", "1002", "a", "paid"), ("pos", "1002", "c", "cancelled")]
LINES = [("shopify", "1001", "1", 2), ("shopify", "1001", "2", 3), ("pos", "1001", "1", 1),
         ("shopify", "1002", "1", 4), ("pos", "1002", "1", 7)]
UNITS_PER_ORDER = 10 / 3
"""The metric divides units by orders as doubles: exactly this double."""


@pytest.fixture
def two_sources(tmp_path: Path) -> Store:
    store = Store(tmp_path / "two_sources.duckdb")
    for day, (source, oid, customer, status) in enumerate(ORDERS, start=2):
        store.upsert([Order(source=source, order_id=oid, customer_id=customer, status=status,
                            placed_at=datetime(2025, 1, day, 12, tzinfo=UTC),
                            total=Decimal("10"), subtotal=Decimal("10"), channel="online")])
    store.upsert([OrderLine(source=source, order_id=oid, line_id=line, quantity=quantity,
                            unit_price=Decimal("1"), total=Decimal(quantity))
                  for source, oid, line, quantity in LINES])
    yield store
    store.close()


def test_items_per_order_keeps_each_sources_lines(two_sources: Store) -> None:
    result = compute(two_sources, ["items_per_order"], start="2025-01-01", end="2025-02-01",
                     catalog=catalog())
    assert result.value("items_per_order", "value") == UNITS_PER_ORDER


def test_items_per_order_in_a_monthly_catalogue_call(two_sources: Store) -> None:
    """Many metrics in one series call read the shared valid orders (a written table):
    that path must carry the source too."""
    names = ["orders", "revenue", "gross_sales", "discount_total", "active_customers", "aov",
             "purchase_frequency", "items_per_order", "channel_mix", "retention_rate",
             "repeat_rate", "interpurchase_days"]
    assert len(names) >= MANY_METRICS
    result = compute(two_sources, names, start="2024-12-01", end="2025-03-01", grain="month",
                     catalog=catalog())
    assert result.value("items_per_order", period="2025-01") == UNITS_PER_ORDER
    assert result.value("orders", period="2025-01") == 3


def test_campaign_credits_keep_two_sources_orders_apart(tmp_path: Path) -> None:
    """Last touch ranks the contacts of each order, (source, order_id); lift counts each
    unit's distinct orders by the same key.

    Campaign A contacts a (10:00) and b (16:00) on 10 January. a buys shopify "1001" (30.00)
    on the 11th, b buys pos "1001" (50.00) on the 12th; a also buys pos "1002" and shopify
    "1002" (20.00 each) on the 13th. Every order is in the window of its buyer's contact:
    A's revenue is 30 + 50 + 20 + 20 = 120 over 4 orders, and a's converted revenue is 70.
    Ranked by order id alone the two 1001s shared one ranking (only b's later contact got
    its credit) and a's two 1002s were one order."""
    from _fixtures_extra import campaign, make_store, run, touch, value

    from clientela.metrics.campaigns import metrics

    def sold(source: str, oid: str, customer: str, day: int, total: str) -> Order:
        return Order(source=source, order_id=oid, customer_id=customer, status="paid",
                     placed_at=datetime(2025, 1, day, 12, tzinfo=UTC), total=Decimal(total),
                     subtotal=Decimal(total), channel="online")

    store = make_store(tmp_path / "campaigns.duckdb", [
        campaign("A", "2025-01-10", cost=10),
        touch("a", "2025-01-10 10:00", campaign_id="A"),
        touch("b", "2025-01-10 16:00", campaign_id="A"),
        touch("z", "2025-01-10 16:00", campaign_id="A", is_control=True),
        sold("shopify", "1001", "a", 11, "30.00"), sold("pos", "1001", "b", 12, "50.00"),
        sold("pos", "1002", "a", 13, "20.00"), sold("shopify", "1002", "a", 13, "20.00")])
    with store:
        found = run(store, metrics(), ["campaign_revenue", "campaign_lift"],
                    "2025-01-01", "2025-02-01")
    assert value(found, "campaign_revenue", item="A") == 120
    assert value(found, "campaign_revenue", "orders", item="A") == 4
    # contacted a and b bought 70 + 50 = 120 over 2 customers; the control bought nothing
    assert value(found, "campaign_lift", "revenue_per_customer_lift", item="A") == 60


# -- a customer's first order names one order of the store's key -----------------------------
# Customer a's first instant holds two orders with the same id from two sources: shopify
# "1001" (online) and pos "1001" (store), both 5 January 2025 12:00 UTC; a orders again on
# the 20th. b's only order is shopify "2001" (online) on the 7th. The first order is the
# smallest (order_id, source): pos "1001", so a began in the store. Broken on order_id
# alone, a had two first rows: new customers by channel online 2 and store 1 (3 new
# customers out of 2), and a carried warm state held a's history twice.

TIED = [("shopify", "1001", "a", 5, "online"), ("pos", "1001", "a", 5, "store"),
        ("shopify", "1003", "a", 20, "online"), ("shopify", "2001", "b", 7, "online")]


@pytest.fixture
def tied_first(tmp_path: Path) -> Store:
    store = Store(tmp_path / "tied_first.duckdb")
    store.upsert([Order(source=source, order_id=oid, customer_id=customer, status="paid",
                        placed_at=datetime(2025, 1, day, 12, tzinfo=UTC),
                        total=Decimal("10"), subtotal=Decimal("10"), channel=channel)
                  for source, oid, customer, day, channel in TIED])
    yield store
    store.close()


def test_tied_first_orders_from_two_sources_give_one_first_order(tied_first: Store) -> None:
    from clientela.kpi.context import MetricContext
    from clientela.kpi.periods import Period
    from clientela.kpi.retail import first_orders, first_orders_reference, valid_orders

    at = datetime(2025, 2, 1)
    ctx = MetricContext(backend=tied_first.ibis(), period=Period(at, at, at, at, "as_of"),
                        as_of=at, timezone="UTC", currency="BRL", metric="test")
    expected = [{"customer_id": "a", "channel": "store", "store_id": None,
                 "salesperson_id": None, "order_id": "1001",
                 "first_at": datetime(2025, 1, 5, 12)},
                {"customer_id": "b", "channel": "online", "store_id": None,
                 "salesperson_id": None, "order_id": "2001",
                 "first_at": datetime(2025, 1, 7, 12)}]

    def listed(table) -> list[dict]:
        return sorted(table.to_pyarrow().to_pylist(), key=lambda r: r["customer_id"])

    assert listed(first_orders(ctx)) == expected
    assert listed(first_orders_reference(valid_orders(ctx, amounts=()))) == expected


def test_new_customers_by_channel_count_a_tied_first_order_once(tied_first: Store) -> None:
    result = compute(tied_first, ["new_customers"], start="2025-01-01", end="2025-02-01",
                     by="channel", catalog=catalog())
    assert result.value("new_customers", slice="store") == 1
    assert result.value("new_customers", slice="online") == 1


def test_a_carried_warm_state_keeps_one_row_per_customer(tied_first: Store) -> None:
    """The warm path keeps each customer's history joined to her first order as of the
    newest period's start (`kpi/carried.py`): one first order per customer, so a's history
    is kept once and a warm answer equals the cold one."""
    names = ["new_customers", "repeat_rate", "recency_days", "orders"]
    span = {"start": "2024-12", "end": "2025-03", "grain": "month", "timezone": "UTC",
            "catalog": catalog()}
    compute(tied_first, names, reuse=True, **span)
    tied_first.upsert([Order(source="shopify", order_id="2002", customer_id="b",
                             status="paid", placed_at=datetime(2025, 2, 10, 12, tzinfo=UTC),
                             total=Decimal("10"), subtotal=Decimal("10"), channel="online")])
    warm = compute(tied_first, names, reuse=True, **span)
    kept = tied_first.con.execute(
        f"SELECT customer_id, orders, first_order_id, first_channel FROM {ROWS_TABLE} "
        f"WHERE as_of = (SELECT max(as_of) FROM {ROWS_TABLE}) ORDER BY customer_id").fetchall()
    # as of February's start (the newest period's): a's three orders, b's one
    assert kept == [("a", 3, "1001", "store"), ("b", 1, "2001", "online")]
    cold = compute(tied_first, names, **span)
    assert warm.rows() == cold.rows()
    # February: a (3 orders) and b (2 orders) both repeat
    assert cold.value("repeat_rate", period="2025-02") == 1.0
