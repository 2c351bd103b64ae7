"""The customer state a warm call carries forward (`clientela.kpi.carried`): kept as of the
newest period's start, combined with the orders placed since it equals the full scan
exactly, and left unused once a write dates an order at or before it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from _warm_fixtures import SPAN, build, order

from clientela.kpi import compute, warm
from clientela.kpi.carried import Carried, carrying, state_for
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.history import customer_history, history_since
from clientela.kpi.periods import make_period, zone
from clientela.kpi.retail import first_order_times, first_orders
from clientela.store import Store
from clientela.store.touched import ROWS_TABLE, STATES_TABLE

METRICS = ["new_customers", "repeat_rate", "recency_days", "revenue"]
"""Point-in-time metrics reading the customer history and the first orders, and one
period-local metric."""
DECEMBER = datetime(2024, 12, 1, 3)
"""The start of the newest period (December 2024 in Sao Paulo), naive UTC: the state's
as-of instant."""
JANUARY = datetime(2025, 1, 1, 3)
"""The end of the newest period."""


def state_rows(store: Store) -> dict[str, tuple[object, ...]]:
    rows = store.con.execute(f"""SELECT customer_id, orders, revenue, first_at, last_at
                                 FROM {ROWS_TABLE} WHERE as_of = ?""", [DECEMBER]).fetchall()
    return {row[0]: row[1:] for row in rows}


def full_scan(store: Store, until: datetime) -> dict[str, tuple[object, ...]]:
    """Each customer's history before `until`, in plain SQL over the store's orders (the
    valid orders: neither cancelled nor refunded in full)."""
    from clientela.model import INVALID_ORDER_STATUSES

    statuses = ", ".join(f"'{s}'" for s in INVALID_ORDER_STATUSES)
    rows = store.con.execute(f"""
        SELECT customer_id, count(*), sum(total - refunded_amount), min(placed_at), max(placed_at)
        FROM orders WHERE status NOT IN ({statuses}) AND customer_id IS NOT NULL
          AND placed_at < ? GROUP BY customer_id""", [until]).fetchall()
    return {row[0]: row[1:] for row in rows}


def context(store: Store) -> MetricContext:
    backend = store.ibis()
    period = make_period(datetime(2024, 12, 1), datetime(2025, 1, 1), zone(SPAN["timezone"]))
    return MetricContext(backend=backend, period=period, as_of=period.end_utc,
                         timezone=SPAN["timezone"], currency="BRL", metric="test",
                         cache=TableCache(backend))


def sorted_rows(expr) -> list[dict[str, object]]:
    return sorted(expr.to_pyarrow().to_pylist(), key=lambda row: row["customer_id"])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = build(tmp_path / "warm.duckdb")
    compute(opened, METRICS, reuse=True, **SPAN)
    yield opened
    opened.close()


def test_the_first_warm_call_keeps_the_state_as_of_the_newest_period(store: Store) -> None:
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    kept = state_rows(store)
    assert kept == full_scan(store, DECEMBER)
    # customer c0 (by hand): orders o0, o6, o12, o18 on days 0, 222, 444 and 666 of 1000,
    # 2902, 4804 and 6706 cents, all before December 2024
    assert kept["c0"] == (4, Decimal("154.12"), datetime(2023, 1, 1, 15),
                          datetime(2024, 10, 28, 21))
    first = store.con.execute(f"""SELECT first_order_id, first_channel FROM {ROWS_TABLE}
                                  WHERE customer_id = 'c0'""").fetchone()
    assert first == ("o0", "store")  # day 0: a multiple of three, a store order


def test_state_plus_the_orders_since_equals_the_full_scan(store: Store) -> None:
    store.upsert([order("n1", 0, 714, 5000),            # c0, 2024-12-16: after the state
                  order("n2", 5, 714, 700, status="cancelled"),  # not a valid order
                  order("n3", None, 714, 900)])         # no customer
    hot = compute(store, METRICS, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {m: ["2024-12"] for m in METRICS}
    assert hot.rows() == compute(store, METRICS, **SPAN).rows()

    ctx = context(store)
    carried = Carried(ctx.backend, store.con.execute(
        f"SELECT state_key FROM {STATES_TABLE}").fetchone()[0], DECEMBER, False)
    with carrying(carried):
        assert state_for(ctx, JANUARY) is not None
        assert state_for(ctx, datetime(2024, 11, 30)) is None  # a state later than asked
        combined = sorted_rows(customer_history(ctx, until=JANUARY))
        first = sorted_rows(first_order_times(ctx))
        first_rows = sorted_rows(first_orders(ctx))
    assert combined == sorted_rows(history_since(ctx, until=JANUARY, state=None))
    assert first == sorted_rows(first_order_times(context(store)))
    assert first_rows == sorted_rows(first_orders(context(store)))
    # c5 ordered o5, o11, o17 and o23 on days 185, 407, 629 and 851 % 730 = 121: o23 first
    assert {r["customer_id"]: r["order_id"] for r in first_rows}["c5"] == "o23"
    by_customer = {row["customer_id"]: row for row in combined}
    assert (by_customer["c0"]["orders"], by_customer["c0"]["revenue"]) == (5, Decimal("204.12"))
    assert by_customer["c0"]["last_at"] == datetime(2024, 12, 16, 1)
    assert {cid: (r["orders"], r["revenue"], r["first_at"], r["last_at"])
            for cid, r in by_customer.items()} == full_scan(store, JANUARY)


def test_a_refund_dated_before_the_state_leaves_it_unused(store: Store) -> None:
    # o12: c0's order of 48.04 placed 2024-03-20, before the state's instant
    store.upsert([order("o12", 0, 444, 4804, refunded_amount=Decimal("24.02"),
                        status="partially_refunded")])
    hot = compute(store, METRICS, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert state_rows(store)["c0"][:2] == (4, Decimal("130.10"))
    assert state_rows(store) == full_scan(store, DECEMBER)
    assert hot.rows() == compute(store, METRICS, **SPAN).rows()


def test_a_write_dated_after_the_state_keeps_it(store: Store) -> None:
    store.upsert([order("n1", 3, 714, 5000)])
    compute(store, METRICS, reuse=True, **SPAN)
    store.upsert([order("n1", 3, 714, 5000, refunded_amount=Decimal("50.00"),
                        status="refunded")])  # refunded in full: December, after the state
    hot = compute(store, METRICS, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert hot.rows() == compute(store, METRICS, **SPAN).rows()


def test_a_new_month_carries_the_previous_state_forward(store: Store) -> None:
    longer = {**SPAN, "end": "2025-02"}
    store.upsert([order("n1", 1, 745, 4321)])  # 2025-01-16: the new month
    store.upsert([order("n2", None, 745, 100)])
    hot = compute(store, METRICS, reuse=True, **longer)
    assert warm.last_report.carried == f"{JANUARY.isoformat()} (carried from {DECEMBER.isoformat()})"
    kept = store.con.execute(f"SELECT as_of FROM {STATES_TABLE} ORDER BY as_of").fetchall()
    assert [row[0] for row in kept] == [DECEMBER, JANUARY]
    january = store.con.execute(f"""SELECT customer_id, orders, revenue, first_at, last_at
                                    FROM {ROWS_TABLE} WHERE as_of = ?""", [JANUARY]).fetchall()
    assert {row[0]: row[1:] for row in january} == full_scan(store, JANUARY)
    assert hot.rows() == compute(store, METRICS, **longer).rows()


def test_emptying_the_results_drops_the_states(store: Store) -> None:
    store.con.execute("DELETE FROM kpi_results")
    store.upsert([order("n1", 0, 100, 999)])  # not logged: no answer is kept
    compute(store, METRICS, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert state_rows(store) == full_scan(store, DECEMBER)


def test_a_state_older_than_the_kept_ones_is_kept_while_it_is_read(store: Store) -> None:
    longer = {**SPAN, "end": "2025-02"}
    compute(store, METRICS, reuse=True, **longer)  # states as of December and January
    shorter = {**SPAN, "end": "2024-11"}  # a metric not kept yet, up to October
    hot = compute(store, ["lapsed_customers", "ltv_historical"], reuse=True, **shorter)
    assert warm.last_report.carried == "2024-10-01T03:00:00 (built from every order)"
    assert hot.rows() == compute(store, ["lapsed_customers", "ltv_historical"],
                                 **shorter).rows()
